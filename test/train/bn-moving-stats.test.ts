import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend.ts';
import { movingStatAfter, bnGuard, bnResidual } from '../../src/train/bn-stats.ts';

const rows = [
  [1.5, -2.0, 10.0],
  [0.5, 1.0, 12.0],
  [2.5, -1.0, 9.0],
  [-0.5, 3.0, 11.5],
  [1.0, 0.0, 10.5],
  [3.0, -2.5, 8.0],
];

function batchStats(data: number[][]) {
  const n = data.length;
  const f = data[0].length;
  const mean = Array.from({ length: f }, (_, j) => data.reduce((s, r) => s + r[j], 0) / n);
  // Biased (÷N) variance: what tfjs feeds into the moving average.
  const variance = Array.from({ length: f }, (_, j) => data.reduce((s, r) => s + (r[j] - mean[j]) ** 2, 0) / n);
  return { mean, variance };
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`moving mean/variance follow the closed form after k steps (${backend})`, async () => {
    await initBackend(backend);
    const momentum = 0.9;
    const steps = 7;
    // BN directly on the input: its batch statistics do not change while the weights train.
    const model = tf.sequential();
    model.add(tf.layers.batchNormalization({ name: 'bn', inputShape: [3], momentum, epsilon: 1e-3 }));
    model.add(tf.layers.dense({ name: 'out', units: 1 }));
    model.compile({ optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError' });
    const x = tf.tensor2d(rows);
    const y = tf.ones([rows.length, 1]);
    await model.fit(x, y, { epochs: steps, batchSize: rows.length, shuffle: false, verbose: 0 });

    const [, , movingMean, movingVariance] = model.getLayer('bn').getWeights().map((w) => Array.from(w.dataSync()));
    const { mean, variance } = batchStats(rows);
    mean.forEach((m, j) => assert.ok(Math.abs(movingMean[j] - movingStatAfter(0, m, momentum, steps)) <= 1e-6, `mean[${j}]`));
    variance.forEach((v, j) =>
      assert.ok(Math.abs(movingVariance[j] - movingStatAfter(1, v, momentum, steps)) <= 1e-6, `variance[${j}]`),
    );

    // Inference must not move the statistics.
    model.predict(x);
    await model.evaluate(x, y);
    const after = model.getLayer('bn').getWeights()[2].dataSync();
    assert.deepEqual(Array.from(after), movingMean);
    tf.dispose([x, y]);
    model.dispose();
  });
}

test('bn guard flags statistics that still hold most of their initial value', () => {
  assert.ok(Math.abs(bnResidual(0.99, 100) - 0.366) < 1e-3);
  const stale = bnGuard([{ name: 'bn', momentum: 0.99 }], 100, 0.05);
  assert.equal(stale.stale, true);
  assert.match(stale.message ?? '', /36\.6% of the initial/);
  const fresh = bnGuard([{ name: 'bn', momentum: 0.99 }], 1000, 0.05);
  assert.equal(fresh.stale, false);
  // The slowest layer (highest momentum) decides.
  const mixed = bnGuard([{ name: 'fast', momentum: 0.5 }, { name: 'slow', momentum: 0.999 }], 1000, 0.05);
  assert.equal(mixed.stale, true);
  assert.match(mixed.message ?? '', /slow/);
});
