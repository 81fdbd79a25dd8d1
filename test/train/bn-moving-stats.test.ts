import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { parseTrainConfig } from '../../src/train/config.ts';
import { train } from '../../src/train/trainer.ts';
import { loadDataset, splitDataset } from '../../src/train/data.ts';
import { bnResidual } from '../../src/lib/bn.ts';
import { movingStatAfter, bnGuard } from '../../src/train/bn-stats.ts';
import { channelMoments } from '../../src/lib/bn.ts';
import { checkBnStatistics } from '../../src/train/bn-check.ts';

const limits = { maxResidual: 0.05, maxMeanGap: 1, maxVarianceRatio: 2.5 };

for (const backend of ['cpu', 'wasm'] as const) {
  test(`trained moving mean/variance equal the closed form after k steps (${backend})`, async () => {
    const momentum = 0.9;
    const steps = 7;
    // BN directly on the (unstandardised) input, one full batch per epoch: every update sees the
    // same batch statistics, so moving_k = d^k·moving_0 + (1−d^k)·batch_stat exactly.
    const config = parseTrainConfig({
      data: { kind: 'synthetic', samples: 30, features: 3, classes: 3, scale: 1.5, offset: 2, seed: 4 },
      split: { train: 0.6, validation: 0.2, test: 0.2, seed: 1 },
      standardize: false,
      layers: [{ type: 'batchNormalization', momentum }],
      optimizer: { type: 'sgd', learningRate: 0.05 },
      epochs: steps,
      batchSize: 1000,
      backend,
    });
    const result = await train(config);
    assert.equal(result.bnSteps, steps);
    assert.deepEqual(
      result.epochs.map((e) => e.bnSteps),
      [1, 2, 3, 4, 5, 6, 7],
    );

    const { train: trainSplit } = splitDataset(await loadDataset(config), config.split, config.task);
    const { mean, variance } = channelMoments(trainSplit.x, 3); // biased (÷N), as tfjs feeds the average
    const [, , movingMean, movingVariance] = result.model
      .getLayer('batch_normalization_0')
      .getWeights()
      .map((w) => w.dataSync());
    for (let j = 0; j < 3; j++) {
      assert.ok(Math.abs(movingMean[j] - movingStatAfter(0, mean[j], momentum, steps)) <= 1e-6, `mean[${j}]`);
      assert.ok(Math.abs(movingVariance[j] - movingStatAfter(1, variance[j], momentum, steps)) <= 1e-6, `variance[${j}]`);
    }

    // Inference must not move the statistics.
    const x = tf.tensor2d(trainSplit.x, [trainSplit.y.length, 3]);
    result.model.predict(x);
    await result.model.evaluate(x, tf.oneHot(tf.tensor1d(trainSplit.y, 'int32'), 3).toFloat());
    assert.deepEqual(result.model.getLayer('batch_normalization_0').getWeights()[2].dataSync(), movingMean);
    x.dispose();
    result.model.dispose();
  });
}

test('the guard measures statistics that were never updated, not only momentum^steps', async () => {
  const config = parseTrainConfig({
    data: { kind: 'synthetic', samples: 200, features: 4, classes: 2, scale: 3, offset: 5 },
    layers: [{ type: 'dense', units: 8 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }],
    epochs: 30,
    batchSize: 8,
    backend: 'cpu',
  });
  const result = await train(config);
  assert.equal(result.bnGuard?.stale, false, result.bnGuard?.message);
  const [fresh] = result.bnGuard!.layers;
  assert.ok(fresh.meanGap < 1 && fresh.varianceRatio < 2.5, JSON.stringify(fresh));

  // The classic bug: moving statistics left at their initial 0/1 (never updated or never saved).
  const bn = result.model.getLayer('batch_normalization_1');
  const [gamma, beta, mean, variance] = bn.getWeights();
  bn.setWeights([gamma, beta, tf.zerosLike(mean), tf.onesLike(variance)]);
  const splits = splitDataset(await loadDataset(config), config.split, config.task);
  const standardized = splits.train.x.map((v, i) => (v - result.preprocessing.mean[i % 4]) / result.preprocessing.std[i % 4]);
  const [stale] = checkBnStatistics(result.model, standardized, [4]);
  const guard = bnGuard([{ name: 'batch_normalization_1', momentum: 0.99 }], result.bnSteps, [stale], limits);
  assert.equal(guard.stale, true);
  assert.match(guard.message ?? '', /batch_normalization_1: moving statistics do not match the training data/);
  result.model.dispose();
});

test('too few steps for the momentum are flagged', () => {
  assert.ok(Math.abs(bnResidual(0.99, 100) - 0.366) < 1e-3);
  const ok = { name: 'bn', meanGap: 0.1, varianceRatio: 1.2 };
  const stale = bnGuard([{ name: 'bn', momentum: 0.99 }], 100, [ok], limits);
  assert.equal(stale.stale, true);
  assert.match(stale.message ?? '', /36\.6% of the initial/);
  assert.equal(bnGuard([{ name: 'bn', momentum: 0.99 }], 1000, [ok], limits).stale, false);
  // The slowest layer (highest momentum) decides.
  const mixed = bnGuard(
    [
      { name: 'fast', momentum: 0.5 },
      { name: 'slow', momentum: 0.999 },
    ],
    1000,
    [],
    limits,
  );
  assert.equal(mixed.stale, true);
  assert.match(mixed.message ?? '', /slow/);
  assert.doesNotMatch(mixed.message ?? '', /fast/);
});
