// Builds small trained checkpoints for the exporter's tests, through the trainer's own model
// builder and checkpoint writer (so the tests exercise the real file format).
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend.ts';
import { saveCheckpoint } from '../../src/train/tfjs-checkpoint.ts';
import type { Activation, LayerSpec } from '../../src/train/config.ts';
import { syntheticClassification } from '../../src/train/data-synthetic.ts';
import { buildModel } from '../../src/train/model.ts';
import { fitStandardization, standardizeDataset } from '../../src/train/standardize.ts';
import { preprocessingFor } from '../../src/train/trainer.ts';

export const bn = (epsilon = 0.001): LayerSpec => ({ type: 'batchNormalization', momentum: 0.5, epsilon, center: true, scale: true });
export const dense = (units: number, activation: Activation = 'linear', useBias = true): LayerSpec => ({
  type: 'dense',
  units,
  activation,
  useBias,
});
export const conv = (filters: number, padding: 'same' | 'valid' = 'same', kernelSize = 3): LayerSpec => ({
  type: 'conv2d',
  filters,
  kernelSize,
  strides: 1,
  padding,
  activation: 'linear',
  useBias: true,
});
export const relu: LayerSpec = { type: 'activation', activation: 'relu' };

export const IRIS_LIKE: LayerSpec[] = [dense(16), bn(), relu];
export const THREE_BLOCK_MLP: LayerSpec[] = [
  dense(24),
  bn(0.01),
  relu,
  dense(16, 'linear', false),
  bn(),
  { type: 'activation', activation: 'elu' },
  { type: 'dropout', rate: 0.2 },
  dense(12),
  bn(1e-4),
  relu,
];
export const SMALL_CNN: LayerSpec[] = [
  conv(4),
  bn(),
  relu,
  { type: 'maxPool2d', poolSize: 2, padding: 'valid' },
  conv(6),
  bn(),
  relu,
  { type: 'flatten' },
];

export interface FixtureOptions {
  layers: LayerSpec[];
  features?: number;
  image?: { height: number; width: number; channels: number };
  classes?: number;
  samples?: number;
  epochs?: number;
  seed?: number;
  task?: 'classification' | 'regression';
}

export interface Fixture {
  dir: string;
  /** Raw-feature rows (not standardised) of the data set, flat. */
  rows: Float32Array;
  cleanup(): Promise<void>;
}

/** Trains a few Adam steps with fit() (so BN moving statistics move away from 0/1) and saves a checkpoint. */
export async function trainedCheckpoint(options: FixtureOptions): Promise<Fixture> {
  const hasConv = options.layers.some((l) => l.type === 'conv2d');
  await initBackend(hasConv ? 'cpu' : 'auto', hasConv);
  const classes = options.classes ?? 3;
  const data = syntheticClassification({
    samples: options.samples ?? 96,
    features: options.features ?? 4,
    classes,
    image: options.image,
    noise: 0.7,
    scale: 3,
    offset: 5,
    seed: options.seed ?? 11,
  });
  const standardization = fitStandardization(data);
  const train = standardizeDataset(data, standardization);
  const task = options.task ?? 'classification';
  const outputUnits = task === 'classification' ? classes : 1;
  const model = buildModel(options.layers, { inputShape: data.inputShape, task, outputUnits, seed: options.seed ?? 3 });
  model.compile({ optimizer: tf.train.adam(0.05), loss: task === 'classification' ? 'categoricalCrossentropy' : 'meanSquaredError' });
  const n = data.y.length;
  const x = tf.tensor(train.x, [n, ...data.inputShape]);
  // Regression target: the class index scaled, so the outputs are not all near zero.
  const y =
    task === 'classification'
      ? tf.oneHot(tf.tensor1d(Array.from(data.y), 'int32'), classes)
      : tf.tensor2d(
          data.y.map((v) => 10 * v),
          [n, 1],
        );
  await model.fit(x, y, { epochs: options.epochs ?? 3, batchSize: 16, shuffle: false, verbose: 0 });
  tf.dispose([x, y]);

  const dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-export-'));
  await saveCheckpoint(dir, {
    model,
    preprocessing: preprocessingFor(data, task, standardization),
    config: { layers: options.layers },
    metrics: { backend: tf.getBackend(), bnSteps: 0, bnGuard: { stale: false, residual: 0 } },
  });
  model.dispose();
  return { dir, rows: data.x, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
