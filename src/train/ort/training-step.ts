// One training step with onnxruntime-node: the graph of ./training-graph.ts computes the loss, the
// gradients and the new BN moving statistics, then tf.train.adam's update runs in place over the
// weights (./adam-memory.ts). onnxruntime reads the weights and writes the gradients through views
// of that memory (preallocated fetches), so no weight or gradient is copied in JavaScript.
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { encodeModel } from '../../export/onnx/helpers.ts';
import type { LayerSpec } from '../config.ts';
import { createAdamMemory } from './adam-memory.ts';
import { ACCURACY, FEED, gradientOutput, LOSS, movingInput, movingOutput, paramInput } from './graph-names.ts';
import { buildTrainingGraph } from './training-graph.ts';

/** tf.train.adam(lr)'s constants (epsilon: the float32 backend's 1e-7). */
export const TFJS_ADAM = { beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

export interface OrtTrainingOptions {
  layers: LayerSpec[];
  features: number;
  classes: number;
  learningRate: number;
  /** tfjs weight name (layer/weight) → initial values: every weight of the model, e.g. buildModel's. */
  initialWeights: ReadonlyMap<string, Float32Array>;
  /** onnxruntime intra-op threads (default: the machine's cores). */
  threads?: number;
  /**
   * Whether idle intra-op threads spin-wait for the next kernel (onnxruntime's default, true): fastest
   * on idle cores, but on a busy machine the spinning takes CPU from the other work and from Adam.
   */
  spinning?: boolean;
}

export interface StepResult {
  loss: number;
  accuracy: number;
}

export interface OrtTrainingStep {
  /** One optimizer step on `rows` rows (x row-major, y one-hot); loss and accuracy are those before the update. */
  step(x: Float32Array, y: Float32Array, rows: number): Promise<StepResult>;
  setLearningRate(rate: number): void;
  /** Current weights and moving statistics by tfjs weight name (copies). */
  readWeights(): Map<string, Float32Array>;
  /** Optimizer steps taken. */
  readonly steps: number;
  dispose(): Promise<void>;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
const scalarTensor = (value: number) => new ort.Tensor('float32', Float32Array.of(value), []);

function initial(weights: ReadonlyMap<string, Float32Array>, name: string, length: number): Float32Array {
  const values = weights.get(name);
  if (!values || values.length !== length)
    throw new Error(`initial weights: ${name} is missing or has ${values?.length ?? 0} values, not ${length}`);
  return values;
}

export async function createOrtTrainingStep(options: OrtTrainingOptions): Promise<OrtTrainingStep> {
  const graph = buildTrainingGraph({ layers: options.layers, features: options.features, classes: options.classes });
  const session = await ort.InferenceSession.create(encodeModel(graph.model), {
    executionProviders: ['cpu'],
    intraOpNumThreads: options.threads ?? os.availableParallelism(),
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: options.spinning === false ? '0' : '1' } } },
  });
  const adam = createAdamMemory(
    graph.params.map((p) => size(p.shape)),
    TFJS_ADAM,
  );
  const stateFeeds: Record<string, ort.Tensor> = {};
  const fetches: Record<string, ort.Tensor> = { [LOSS]: scalarTensor(0), [ACCURACY]: scalarTensor(0) };
  graph.params.forEach((p, i) => {
    const slot = adam.slots[i];
    slot.value.set(initial(options.initialWeights, p.name, slot.value.length));
    stateFeeds[paramInput(p.name)] = new ort.Tensor('float32', slot.value, p.shape);
    fetches[gradientOutput(p.name)] = new ort.Tensor('float32', slot.gradient, p.shape);
  });
  // Moving statistics are small: two buffers each, read from one and written to the other, swapped per step.
  const moving = graph.moving.map((s) => {
    const buffers = [Float32Array.from(initial(options.initialWeights, s.name, size(s.shape))), new Float32Array(size(s.shape))];
    return { name: s.name, tensors: buffers.map((b) => new ort.Tensor('float32', b, s.shape)) };
  });
  let learningRate = options.learningRate;
  let parity = 0;

  return {
    async step(x, y, rows) {
      const feeds: Record<string, ort.Tensor> = {
        ...stateFeeds,
        [FEED.x]: new ort.Tensor('float32', x.subarray(0, rows * options.features), [rows, options.features]),
        [FEED.y]: new ort.Tensor('float32', y.subarray(0, rows * options.classes), [rows, options.classes]),
        [FEED.invBatch]: scalarTensor(1 / rows),
      };
      for (const s of moving) {
        feeds[movingInput(s.name)] = s.tensors[parity];
        fetches[movingOutput(s.name)] = s.tensors[1 - parity];
      }
      await session.run(feeds, fetches);
      parity = 1 - parity;
      adam.update(learningRate);
      return { loss: (fetches[LOSS].data as Float32Array)[0], accuracy: (fetches[ACCURACY].data as Float32Array)[0] };
    },
    setLearningRate(rate) {
      learningRate = rate;
    },
    readWeights() {
      const out = new Map<string, Float32Array>();
      graph.params.forEach((p, i) => {
        out.set(p.name, Float32Array.from(adam.slots[i].value));
      });
      for (const s of moving) out.set(s.name, Float32Array.from(s.tensors[parity].data as Float32Array));
      return out;
    },
    get steps() {
      return adam.steps;
    },
    async dispose() {
      await session.release();
    },
  };
}
