import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, parseTrainConfig } from '../../src/train/config.ts';
import { buildModel } from '../../src/train/model.ts';
import { createRng, normal } from '../../src/train/rng.ts';
import { chooseTrainEngine, type EngineChoiceInput } from '../../src/train/ort/engine-choice.ts';
import { createOrtFit } from '../../src/train/ort/ort-fit.ts';
import { readModelWeights } from '../../src/train/ort/tfjs-weights.ts';

function modelInput(rawLayers: unknown[], overrides: Partial<EngineChoiceInput> = {}): EngineChoiceInput {
  const config = parseTrainConfig({ data: { kind: 'synthetic' }, layers: rawLayers });
  return {
    layers: config.layers,
    inputShape: [8],
    task: 'classification',
    optimizer: config.optimizer,
    regularized: false,
    backend: 'auto',
    ...overrides,
  };
}

const denseBn = [{ type: 'dense', units: 8 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }];

test('auto trains supported dense nets on onnxruntime and says why', () => {
  const choice = chooseTrainEngine('auto', modelInput(denseBn));
  assert.equal(choice.engine, 'onnxruntime');
  assert.match(choice.reason, /supports every layer/);
});

test('auto keeps tfjs, with the reason, for what the onnxruntime step does not reproduce', () => {
  const cases: Array<[EngineChoiceInput, RegExp]> = [
    [modelInput(denseBn, { regularized: true }), /regularisers/],
    [modelInput(denseBn, { task: 'regression' }), /classification/],
    [modelInput(denseBn, { optimizer: { type: 'sgd', learningRate: 0.1, momentum: 0.9 } }), /adam/],
    [modelInput(denseBn, { inputShape: [4, 4, 1] }), /flat/],
    [modelInput([{ type: 'dense', units: 4, activation: 'elu' }]), /elu/],
    [modelInput([{ type: 'dropout', rate: 0.2 }]), /dropout/],
    [modelInput([{ type: 'batchNormalization', center: false }]), /without center or scale/],
    [modelInput([{ type: 'conv2d', filters: 2, kernelSize: 3 }]), /layers\.0 \(conv2d\): not supported/],
    [modelInput(denseBn, { backend: 'wasm' }), /pins the tfjs backend "wasm"/],
  ];
  for (const [input, why] of cases) {
    const choice = chooseTrainEngine('auto', input);
    assert.equal(choice.engine, 'tfjs');
    assert.match(choice.reason, why);
  }
  assert.equal(chooseTrainEngine('auto', modelInput([{ type: 'dropout', rate: 0 }])).engine, 'onnxruntime');
});

test('an explicit engine is obeyed, and onnxruntime on an unsupported model is a config error', () => {
  assert.equal(chooseTrainEngine('tfjs', modelInput(denseBn)).engine, 'tfjs');
  assert.equal(chooseTrainEngine('onnxruntime', modelInput(denseBn, { backend: 'wasm' })).engine, 'onnxruntime');
  assert.throws(
    () => chooseTrainEngine('onnxruntime', modelInput(denseBn, { regularized: true })),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match((error as Error).message, /cannot train this model: kernel regularisers/);
      return true;
    },
  );
});

test('an onnxruntime epoch equals model.fit: batch-weighted loss and accuracy, a short last batch, weights copied back', async () => {
  await tf.setBackend('cpu');
  const layers = parseTrainConfig({ data: { kind: 'synthetic' }, layers: denseBn }).layers;
  const rows = 50; // batches of 16, 16, 16 and 2
  const batchSize = 16;
  const rng = createRng(9);
  const x = Float32Array.from({ length: rows * 5 }, () => normal(rng));
  const labels = Array.from({ length: rows }, (_, r) => (x[r * 5] > 0 ? 0 : x[r * 5 + 1] > 0 ? 1 : 2));
  const build = () => {
    const model = buildModel(layers, { inputShape: [5], task: 'classification', outputUnits: 3, seed: 4 });
    model.compile({ optimizer: tf.train.adam(0.05), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    return model;
  };

  const reference = build();
  const xs = tf.tensor2d(x, [rows, 5]);
  const ys = tf.oneHot(tf.tensor1d(labels, 'int32'), 3).toFloat();
  const history = await reference.fit(xs, ys, { epochs: 1, batchSize, shuffle: false, verbose: 0 });
  tf.dispose([xs, ys]);

  const model = build();
  const fit = await createOrtFit(model, { layers, features: 5, classes: 3, learningRate: 0.05 });
  const batchLosses: number[] = [];
  const epoch = await fit.fitEpoch({ x, labels }, batchSize, 0.05, (loss) => {
    batchLosses.push(loss);
  });
  assert.equal(batchLosses.length, 4);
  assert.equal(fit.steps, 4);
  const close = (actual: number, expected: number, what: string) =>
    assert.ok(Math.abs(actual - expected) <= 1e-4 * Math.abs(expected), `${what}: onnxruntime ${actual}, tfjs ${expected}`);
  close(epoch.loss, Number(history.history.loss[0]), 'epoch loss');
  close(epoch.accuracy, Number(history.history.acc[0]), 'epoch accuracy');

  const before = readModelWeights(model);
  fit.copyInto(model);
  await fit.dispose();
  const trained = readModelWeights(model);
  for (const [name, expected] of readModelWeights(reference)) {
    const actual = trained.get(name) as Float32Array;
    const moved = expected.some((v, i) => v !== (before.get(name) as Float32Array)[i]);
    assert.ok(moved, `${name} changed in training`);
    if (name === 'dense_0/bias' || name === 'batch_normalization_1/moving_mean') continue; // a bias before BN: rounding noise
    for (let i = 0; i < expected.length; i++)
      assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-4, `${name}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
  reference.dispose();
  model.dispose();
});
