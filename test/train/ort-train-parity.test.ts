import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import type { LayerSpec } from '../../src/train/config.ts';
import { parseTrainConfig } from '../../src/train/config.ts';
import { buildModel } from '../../src/train/model.ts';
import { createRng, normal } from '../../src/train/rng.ts';
import { readModelWeights } from '../../src/train/ort/tfjs-weights.ts';
import { createOrtTrainingStep } from '../../src/train/ort/training-step.ts';

const FEATURES = 6;
const CLASSES = 3;
const BATCH = 24;
const STEPS = 50;
const LEARNING_RATE = 0.01;

function layersOf(raw: unknown[]): LayerSpec[] {
  return parseTrainConfig({ data: { kind: 'synthetic' }, layers: raw }).layers;
}

/** Seeded batches whose label depends on the features (so the loss moves). */
function batches(seed: number): Array<{ x: Float32Array; y: Float32Array }> {
  const rng = createRng(seed);
  return Array.from({ length: STEPS }, () => {
    const x = Float32Array.from({ length: BATCH * FEATURES }, () => normal(rng) * 1.5 + 0.5);
    const y = new Float32Array(BATCH * CLASSES);
    for (let r = 0; r < BATCH; r++) {
      const row = x.subarray(r * FEATURES);
      y[r * CLASSES + (row[0] + row[1] > 1 ? 0 : row[2] > 0.5 ? 1 : 2)] = 1;
    }
    return { x, y };
  });
}

interface Run {
  losses: number[];
  weights: Map<string, Float32Array>;
}

async function trainTfjs(layers: LayerSpec[], data: ReturnType<typeof batches>): Promise<Run & { initial: Map<string, Float32Array> }> {
  await tf.setBackend('cpu');
  const model = buildModel(layers, { inputShape: [FEATURES], task: 'classification', outputUnits: CLASSES, seed: 3 });
  model.compile({ optimizer: tf.train.adam(LEARNING_RATE), loss: 'categoricalCrossentropy' });
  const initial = readModelWeights(model);
  const losses: number[] = [];
  for (const batch of data) {
    const [x, y] = [tf.tensor2d(batch.x, [BATCH, FEATURES]), tf.tensor2d(batch.y, [BATCH, CLASSES])];
    losses.push(Number(await model.trainOnBatch(x, y)));
    tf.dispose([x, y]);
  }
  const weights = readModelWeights(model);
  model.dispose();
  return { losses, weights, initial };
}

async function trainOrt(layers: LayerSpec[], data: ReturnType<typeof batches>, initialWeights: Map<string, Float32Array>): Promise<Run> {
  const step = await createOrtTrainingStep({ layers, features: FEATURES, classes: CLASSES, learningRate: LEARNING_RATE, initialWeights });
  const losses: number[] = [];
  for (const batch of data) losses.push((await step.step(batch.x, batch.y, BATCH)).loss);
  const weights = step.readWeights();
  await step.dispose();
  return { losses, weights };
}

function assertLossesMatch(tfjs: number[], ort: number[]): void {
  assert.equal(ort.length, tfjs.length);
  tfjs.forEach((expected, i) => {
    const relative = Math.abs(ort[i] - expected) / Math.abs(expected);
    assert.ok(relative <= 1e-4, `step ${i}: tfjs loss ${expected}, onnxruntime ${ort[i]} (relative ${relative.toExponential(2)})`);
  });
  assert.ok(tfjs[tfjs.length - 1] < tfjs[0] * 0.8, 'the loss fell during the run (the comparison is not of a stuck model)');
}

function maxAbsDifference(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

test('onnxruntime training step: 50 Adam steps track tfjs (losses, weights, BN moving statistics)', async () => {
  // No bias before a BN layer: such a bias has a zero gradient in exact arithmetic, so its Adam steps
  // follow the sign of rounding noise and differ between any two implementations (see the next test).
  const layers = layersOf([
    { type: 'dense', units: 16, useBias: false },
    { type: 'batchNormalization', momentum: 0.9 },
    { type: 'activation', activation: 'relu' },
    { type: 'dense', units: 12, useBias: false },
    { type: 'batchNormalization', momentum: 0.8, epsilon: 0.01 },
    { type: 'activation', activation: 'tanh' },
    { type: 'dense', units: 8, activation: 'sigmoid' },
  ]);
  const data = batches(11);
  const tfjs = await trainTfjs(layers, data);
  const ort = await trainOrt(layers, data, tfjs.initial);
  assertLossesMatch(tfjs.losses, ort.losses);
  assert.deepEqual([...ort.weights.keys()].sort(), [...tfjs.weights.keys()].sort());
  for (const [name, values] of tfjs.weights) {
    const moved = maxAbsDifference(values, tfjs.initial.get(name) as Float32Array);
    assert.ok(moved > 1e-3, `${name} changed during training (by ${moved})`);
    const gap = maxAbsDifference(ort.weights.get(name) as Float32Array, values);
    assert.ok(gap <= 1e-4, `${name}: onnxruntime and tfjs differ by ${gap.toExponential(2)}`);
  }
});

test('onnxruntime training step: hidden softmax, a bias before BN, default BN', async () => {
  const layers = layersOf([
    { type: 'dense', units: 10 },
    { type: 'batchNormalization' },
    { type: 'activation', activation: 'softmax' },
    { type: 'dropout', rate: 0 },
    { type: 'dense', units: 7, activation: 'relu' },
  ]);
  const data = batches(5);
  const tfjs = await trainTfjs(layers, data);
  const ort = await trainOrt(layers, data, tfjs.initial);
  assertLossesMatch(tfjs.losses, ort.losses);
  for (const [name, values] of tfjs.weights) {
    if (name === 'dense_0/bias' || name === 'batch_normalization_1/moving_mean') continue; // rounding noise, see above
    const gap = maxAbsDifference(ort.weights.get(name) as Float32Array, values);
    assert.ok(gap <= 1e-4, `${name}: onnxruntime and tfjs differ by ${gap.toExponential(2)}`);
  }
});
