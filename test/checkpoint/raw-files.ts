// Checkpoint folders written file by file (no tfjs, no writer), so a test can break any part of them.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { tempDir } from '../train/helpers.ts';

export type Weights = Array<[name: string, shape: number[], values: number[]]>;

export const layers = [
  { class_name: 'Dense', config: { name: 'dense_0', units: 2, activation: 'relu', use_bias: true, batch_input_shape: [null, 3] } },
  { class_name: 'BatchNormalization', config: { name: 'batch_normalization_1', axis: -1, epsilon: 0.004, center: true, scale: true } },
  { class_name: 'Dropout', config: { name: 'dropout_2', rate: 0.5 } },
  { class_name: 'Dense', config: { name: 'output', units: 2, activation: 'softmax', use_bias: false } },
];

/** The order tfjs writes: all trainable weights first, then the moving statistics. */
export const weights: Weights = [
  ['dense_0/kernel', [3, 2], [1, 2, 3, 4, 5, 6]],
  ['dense_0/bias', [2], [0.1, 0.2]],
  ['batch_normalization_1/gamma', [2], [-1.5, 2]],
  ['batch_normalization_1/beta', [2], [0.3, 0.4]],
  ['output/kernel', [2, 2], [7, 8, 9, 10]],
  ['batch_normalization_1/moving_mean', [2], [0.5, 0.6]],
  ['batch_normalization_1/moving_variance', [2], [0.7, 0.8]],
];

export const preprocessing = {
  task: 'classification',
  featureNames: ['a', 'b', 'c'],
  inputShape: [3],
  mean: [1, 2, 3],
  std: [1, 1, 2],
  classLabels: ['x', 'y'],
};

export const sequential = (config: unknown) => ({ class_name: 'Sequential', config, keras_version: 'tfjs-layers 4.22.0' });

/** model.json's object for `topology`, with a one-file manifest of `w`. */
export const rawModelJson = (topology: unknown, w: Weights = weights) => ({
  modelTopology: topology,
  weightsManifest: [{ paths: ['weights.bin'], weights: w.map(([name, shape]) => ({ name, shape, dtype: 'float32' })) }],
});

/** weights.bin's bytes for `w`: float32, in manifest order. */
export const rawWeightBytes = (w: Weights = weights) => new Uint8Array(Float32Array.from(w.flatMap(([, , v]) => v)).buffer);

/** model.json, weights.bin, preprocessing.json and (when given) metrics.json in a temp folder removed after the test. */
export async function writeRawCheckpoint(
  t: TestContext,
  options: { topology: unknown; weights?: Weights; preprocessing?: unknown; metrics?: unknown },
): Promise<string> {
  const dir = await tempDir(t, 'bnserve-reader-');
  await writeFile(path.join(dir, 'weights.bin'), rawWeightBytes(options.weights));
  await writeFile(path.join(dir, 'model.json'), JSON.stringify(rawModelJson(options.topology, options.weights)));
  await writeFile(path.join(dir, 'preprocessing.json'), JSON.stringify(options.preprocessing ?? preprocessing));
  if (options.metrics) await writeFile(path.join(dir, 'metrics.json'), JSON.stringify(options.metrics));
  return dir;
}
