import { test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { loadTrainConfig, parseTrainConfig } from '../../src/train/config.ts';
import { train, predictFlat } from '../../src/train/trainer.ts';
import { loadDataset } from '../../src/train/data.ts';
import { applyStandardization } from '../../src/train/standardize.ts';

test('the Iris example reaches at least 0.93 test accuracy with fresh moving statistics', async () => {
  const config = await loadTrainConfig('examples/iris-bn.json');
  const result = await train(config);
  try {
    assert.ok(result.test.accuracy >= 0.93, `test accuracy ${result.test.accuracy}`);
    assert.equal(result.bnGuard?.stale, false);
    assert.equal(result.bnSteps, result.bestEpoch * Math.ceil(result.trainSize / (config.batchSize as number)));
    const last = result.epochs.at(-1)!;
    assert.deepEqual(Object.keys(last.train), ['accuracy']);
    assert.deepEqual(Object.keys(last.validation).sort(), ['valAccuracy', 'valLoss']);
    assert.deepEqual(Object.keys(last.test).sort(), ['testAccuracy', 'testLoss']);
    assert.equal(last.test.testAccuracy, result.test.accuracy);

    // The reported regularisation term is the mean over the epoch's batches of the penalty of the weights each
    // batch was computed with (exactness: test/train/regularization.test.ts), so it is close to, not equal to,
    // tfjs's own regulariser on the final kernels.
    const l2 = 0.0001;
    const expected = tf.tidy(() =>
      ['dense_0', 'dense_3']
        .map((name) => tf.regularizers.l1l2({ l1: 0, l2 }).apply(result.model.getLayer(name).getWeights()[0]).dataSync()[0])
        .reduce((a, b) => a + b, 0),
    );
    assert.ok(Math.abs(last.regularizationLoss - expected) < 0.02 * expected, `${last.regularizationLoss} vs ${expected}`);
  } finally {
    result.model.dispose();
  }
});

test('one row predicted alone equals the same row inside a batch of 200', async () => {
  const config = await loadTrainConfig('examples/iris-bn.json');
  config.epochs = 5;
  const result = await train(config);
  const iris = await loadDataset(config);
  const x = applyStandardization(iris.x, result.preprocessing);
  const batch = new Float32Array(200 * 4);
  for (let i = 0; i < 200; i++) batch.set(x.subarray((i % 150) * 4, (i % 150) * 4 + 4), i * 4);
  const all = predictFlat(result.model, batch, [4]);
  for (const row of [0, 77, 149, 199]) {
    const alone = predictFlat(result.model, batch.slice(row * 4, row * 4 + 4), [4]);
    assert.deepEqual(Array.from(alone), Array.from(all.subarray(row * 3, row * 3 + 3)), `row ${row}`);
  }
  result.model.dispose();
});

test('training is deterministic for a seed on the same backend', async () => {
  const config = parseTrainConfig({
    data: { kind: 'synthetic', samples: 120, features: 5, classes: 3 },
    layers: [
      { type: 'dense', units: 8 },
      { type: 'batchNormalization' },
      { type: 'activation', activation: 'relu' },
      { type: 'dropout', rate: 0.2 },
    ],
    epochs: 3,
    batchSize: 16,
    seed: 5,
    backend: 'cpu',
  });
  const a = await train(config);
  const b = await train(config);
  assert.deepEqual(
    a.epochs.map((e) => e.loss),
    b.epochs.map((e) => e.loss),
  );
  assert.deepEqual(a.test, b.test);
  const c = await train({ ...config, seed: 6 });
  assert.notDeepEqual(
    a.epochs.map((e) => e.loss),
    c.epochs.map((e) => e.loss),
  );
  for (const r of [a, b, c]) r.model.dispose();
});

test('early stopping restores the best epoch and counts BN steps up to it', async () => {
  const config = parseTrainConfig({
    data: { kind: 'synthetic', samples: 90, features: 4, classes: 3, noise: 3 },
    layers: [{ type: 'dense', units: 32 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }],
    optimizer: { type: 'adam', learningRate: 0.05 },
    epochs: 60,
    batchSize: 8,
    earlyStopping: { monitor: 'valLoss', patience: 3 },
    backend: 'cpu',
  });
  const result = await train(config);
  const best = Math.min(...result.epochs.map((e) => e.validation.valLoss));
  assert.equal(result.epochs[result.bestEpoch - 1].validation.valLoss, best);
  assert.ok(result.epochs.length < 60, 'stopped early');
  assert.equal(result.bnSteps, result.bestEpoch * Math.ceil(result.trainSize / 8));
  result.model.dispose();
});

test('regression reports MAE and RMSE', async () => {
  const config = parseTrainConfig({
    task: 'regression',
    data: { kind: 'csv', path: 'test/train/fixtures/linear.csv', labelColumn: 'y' },
    layers: [{ type: 'dense', units: 8 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'tanh' }],
    split: { train: 0.6, validation: 0.2, test: 0.2, seed: 1, stratify: false },
    optimizer: { type: 'adam', learningRate: 0.05 },
    epochs: 150,
    batchSize: 8,
    backend: 'cpu',
  });
  const result = await train(config);
  assert.deepEqual(Object.keys(result.test).sort(), ['loss', 'mae', 'rmse']);
  // The targets have a standard deviation of 6.0; predicting their mean would give an RMSE of about 6.
  assert.ok(result.test.rmse < 2, `rmse ${result.test.rmse}`);
  assert.equal(result.preprocessing.targetName, 'y');
  result.model.dispose();
});
