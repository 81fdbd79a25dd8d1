import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTrainConfig } from '../../src/train/config.ts';
import { predictFlat, regularizedKernels, train } from '../../src/train/trainer.ts';
import { buildModel } from '../../src/train/model.ts';
import { loadDataset } from '../../src/train/data.ts';
import { applyStandardization, fitStandardization } from '../../src/train/standardize.ts';
import { crossEntropy } from '../../src/train/metrics.ts';

const sum = (values: ArrayLike<number>, f: (v: number) => number) => Array.from(values).reduce((a, v) => a + f(v), 0);

/**
 * One full-batch epoch: the recorded loss is computed with the initial weights, so the data term and
 * the penalty can both be computed here, independently, from a model built with the same seed.
 */
test('the output-layer and model-wide regularisers add exactly scale·Σw²/2 and scale·Σ|w|, reported from the same weights as the data loss', async () => {
  const config = parseTrainConfig({
    data: { kind: 'iris' },
    split: { train: 1, validation: 0, test: 0 },
    layers: [
      { type: 'dense', units: 5, activation: 'relu' }, // model-wide weightDecay
      { type: 'dense', units: 4, activation: 'relu', kernelRegularizer: {} }, // overridden: none
    ],
    kernelRegularizer: { weightDecay: 0.02 },
    output: { kernelRegularizer: { l1: 0.003 } },
    optimizer: { type: 'sgd', learningRate: 0.05 },
    epochs: 1,
    batchSize: 'full',
    backend: 'cpu',
    seed: 4,
  });
  assert.deepEqual(
    regularizedKernels(config).map((k) => k.layer),
    ['dense_0', 'output'],
  );
  const data = await loadDataset(config);
  const initial = buildModel(config.layers, {
    inputShape: [4],
    task: 'classification',
    outputUnits: 3,
    seed: config.seed,
    output: config.output,
    defaultRegularizer: config.kernelRegularizer,
  });
  const hidden = initial.getLayer('dense_0').getWeights()[0].dataSync();
  const output = initial.getLayer('output').getWeights()[0].dataSync();
  const expectedPenalty = (0.02 * sum(hidden, (w) => w * w)) / 2 + 0.003 * sum(output, Math.abs);
  const x = applyStandardization(data.x, fitStandardization(data));
  const expectedData = crossEntropy(predictFlat(initial, x, [4]), data.y, 3);
  initial.dispose();
  assert.ok(expectedPenalty > 0.01, `${expectedPenalty}`);

  const result = await train(config, {}, data);
  try {
    const [epoch] = result.epochs;
    const close = (a: number, b: number, what: string) =>
      assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
    close(epoch.regularizationLoss, expectedPenalty, 'regularisation loss');
    close(epoch.dataLoss, expectedData, 'data loss');
    close(epoch.loss, expectedData + expectedPenalty, 'training loss (tfjs adds the same penalty)');
  } finally {
    result.model.dispose();
  }
});
