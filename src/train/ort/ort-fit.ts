// The trainer's view of the onnxruntime training step: one epoch at a time, as model.fit(x, y,
// { epochs: 1, batchSize, shuffle: false }) runs it, with the tfjs model as the place the weights are
// read from at the start and copied back to after each epoch (evaluation, early stopping, checkpoint
// all stay on the tfjs model, unchanged).
import type * as tf from '@tensorflow/tfjs';
import type { LayerSpec } from '../config.ts';
import { assignModelWeights, readModelWeights } from './tfjs-weights.ts';
import { createOrtTrainingStep, type OrtTrainingStep } from './training-step.ts';

export interface EpochHistory {
  /** Mean of the batches' losses weighted by their rows, as fit's history.loss. */
  loss: number;
  /** Mean of the batches' accuracies weighted by their rows, as fit's history.acc. */
  accuracy: number;
}

export interface OrtFit {
  /** One pass over the rows in the given order; `labels` are class indices. */
  fitEpoch(
    data: { x: Float32Array; labels: ArrayLike<number> },
    batchSize: number,
    learningRate: number,
    onBatchEnd?: (loss: number) => void | Promise<void>,
  ): Promise<EpochHistory>;
  /** Writes the trained weights and moving statistics into the tfjs model. */
  copyInto(model: tf.LayersModel): void;
  /** Optimizer steps taken (every step is a BN update). */
  readonly steps: number;
  dispose(): Promise<void>;
}

export interface OrtFitOptions {
  layers: LayerSpec[];
  features: number;
  classes: number;
  learningRate: number;
  threads?: number;
  spinning?: boolean;
}

/** Starts from the tfjs model's current (initial) weights. */
export async function createOrtFit(model: tf.LayersModel, options: OrtFitOptions): Promise<OrtFit> {
  const engine: OrtTrainingStep = await createOrtTrainingStep({ ...options, initialWeights: readModelWeights(model) });
  const { features, classes } = options;
  return {
    async fitEpoch(data, batchSize, learningRate, onBatchEnd) {
      engine.setLearningRate(learningRate);
      const rows = data.labels.length;
      const oneHot = new Float32Array(rows * classes);
      for (let r = 0; r < rows; r++) oneHot[r * classes + data.labels[r]] = 1;
      let loss = 0;
      let accuracy = 0;
      for (let start = 0; start < rows; start += batchSize) {
        const count = Math.min(batchSize, rows - start);
        const result = await engine.step(data.x.subarray(start * features), oneHot.subarray(start * classes), count);
        loss += result.loss * count;
        accuracy += result.accuracy * count;
        await onBatchEnd?.(result.loss);
      }
      return { loss: loss / rows, accuracy: accuracy / rows };
    },
    copyInto(target) {
      assignModelWeights(target, engine.readWeights());
    },
    get steps() {
      return engine.steps;
    },
    dispose: () => engine.dispose(),
  };
}
