import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { readCheckpoint } from '../../src/export/checkpoint-reader.ts';
import { ExportError } from '../../src/export/errors.ts';
import { opsFromCheckpoint } from '../../src/export/ops.ts';

const dirs: string[] = [];
after(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

type Weights = Array<[name: string, shape: number[], values: number[]]>;

const layers = [
  { class_name: 'Dense', config: { name: 'dense_0', units: 2, activation: 'relu', use_bias: true, batch_input_shape: [null, 3] } },
  { class_name: 'BatchNormalization', config: { name: 'batch_normalization_1', axis: -1, epsilon: 0.004, center: true, scale: true } },
  { class_name: 'Dropout', config: { name: 'dropout_2', rate: 0.5 } },
  { class_name: 'Dense', config: { name: 'output', units: 2, activation: 'softmax', use_bias: false } },
];

/** The order tfjs writes: all trainable weights first, then the moving statistics. */
const weights: Weights = [
  ['dense_0/kernel', [3, 2], [1, 2, 3, 4, 5, 6]],
  ['dense_0/bias', [2], [0.1, 0.2]],
  ['batch_normalization_1/gamma', [2], [-1.5, 2]],
  ['batch_normalization_1/beta', [2], [0.3, 0.4]],
  ['output/kernel', [2, 2], [7, 8, 9, 10]],
  ['batch_normalization_1/moving_mean', [2], [0.5, 0.6]],
  ['batch_normalization_1/moving_variance', [2], [0.7, 0.8]],
];

const preprocessing = {
  task: 'classification',
  featureNames: ['a', 'b', 'c'],
  inputShape: [3],
  mean: [1, 2, 3],
  std: [1, 1, 2],
  classLabels: ['x', 'y'],
};

async function writeCheckpoint(options: {
  topology: unknown;
  weights?: Weights;
  preprocessing?: unknown;
  metrics?: unknown;
}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-reader-'));
  dirs.push(dir);
  const w = options.weights ?? weights;
  const values = w.flatMap(([, , v]) => v);
  await writeFile(path.join(dir, 'weights.bin'), Buffer.from(Float32Array.from(values).buffer));
  const manifest = [{ paths: ['weights.bin'], weights: w.map(([name, shape]) => ({ name, shape, dtype: 'float32' })) }];
  await writeFile(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: options.topology, weightsManifest: manifest }));
  await writeFile(path.join(dir, 'preprocessing.json'), JSON.stringify(options.preprocessing ?? preprocessing));
  if (options.metrics) await writeFile(path.join(dir, 'metrics.json'), JSON.stringify(options.metrics));
  return dir;
}

const sequential = (config: unknown) => ({ class_name: 'Sequential', config, keras_version: 'tfjs-layers 4.22.0' });

describe('readCheckpoint', () => {
  test('maps weights by layer name, whatever their order in the manifest', async () => {
    const shuffled = [weights[5], weights[2], weights[4], weights[0], weights[6], weights[3], weights[1]];
    for (const w of [weights, shuffled]) {
      const checkpoint = await readCheckpoint(await writeCheckpoint({ topology: sequential({ name: 's', layers }), weights: w }));
      const [dense, bn, dropout, output] = checkpoint.layers;
      assert.equal(dense.kind, 'dense');
      assert.equal(bn.kind, 'batchNormalization');
      assert.equal(dropout.kind, 'dropout');
      assert.equal(output.kind, 'dense');
      if (dense.kind !== 'dense' || bn.kind !== 'batchNormalization' || output.kind !== 'dense') return;
      assert.deepEqual(Array.from(dense.kernel), [1, 2, 3, 4, 5, 6]);
      assert.equal(dense.activation, 'relu');
      assert.deepEqual(Array.from(bn.gamma), [-1.5, 2]);
      assert.deepEqual(
        Array.from(bn.movingMean, (v) => Math.fround(v)),
        [Math.fround(0.5), Math.fround(0.6)],
      );
      assert.deepEqual(
        Array.from(bn.movingVariance, (v) => Math.fround(v)),
        [Math.fround(0.7), Math.fround(0.8)],
      );
      assert.equal(bn.epsilon, 0.004);
      assert.equal(output.bias, null);
      assert.deepEqual(checkpoint.inputShape, [3]);
    }
  });

  test('reads both Sequential shapes: config.layers with an InputLayer, and a bare layer array', async () => {
    const withInput = [{ class_name: 'InputLayer', config: { name: 'input', batch_input_shape: [null, 3] } }, ...layers];
    const a = await readCheckpoint(await writeCheckpoint({ topology: sequential({ name: 's', layers: withInput }) }));
    const b = await readCheckpoint(await writeCheckpoint({ topology: sequential(layers) }));
    assert.deepEqual(
      a.layers.map((l) => l.name),
      ['dense_0', 'batch_normalization_1', 'dropout_2', 'output'],
    );
    assert.deepEqual(
      b.layers.map((l) => l.name),
      a.layers.map((l) => l.name),
    );
  });

  test('BN without center/scale gets β = 0 and γ = 1', async () => {
    const noAffine = layers.map((l) =>
      l.class_name === 'BatchNormalization' ? { ...l, config: { ...l.config, center: false, scale: false } } : l,
    );
    const w = weights.filter(([name]) => !name.endsWith('gamma') && !name.endsWith('beta'));
    const checkpoint = await readCheckpoint(await writeCheckpoint({ topology: sequential({ layers: noAffine }), weights: w }));
    const bn = checkpoint.layers[1];
    assert.ok(bn.kind === 'batchNormalization');
    assert.deepEqual([...bn.gamma, ...bn.beta], [1, 1, 0, 0]);
  });

  test('reports a stale BN guard from metrics.json', async () => {
    const dir = await writeCheckpoint({
      topology: sequential({ layers }),
      metrics: { bnGuard: { stale: true, residual: 0.4, message: 'too few steps' } },
    });
    assert.deepEqual((await readCheckpoint(dir)).bnGuard, { stale: true, residual: 0.4, message: 'too few steps' });
  });

  const broken: Array<[string, () => Promise<string>, RegExp]> = [
    [
      'a missing moving statistic',
      () => writeCheckpoint({ topology: sequential({ layers }), weights: weights.slice(0, 6) }),
      /batch_normalization_1\/moving_variance is missing/,
    ],
    [
      'a weight of the wrong shape',
      () =>
        writeCheckpoint({
          topology: sequential({ layers }),
          weights: weights.map((w): Weights[number] => (w[0] === 'dense_0/bias' ? ['dense_0/bias', [1], [0.1]] : w)),
        }),
      /bias has shape \[1\], expected \[2\]/,
    ],
    [
      'an unsupported layer',
      () => writeCheckpoint({ topology: sequential({ layers: [...layers, { class_name: 'LSTM', config: { name: 'lstm_9' } }] }) }),
      /lstm_9 \(LSTM\): unsupported layer type/,
    ],
    [
      'an unsupported activation',
      () =>
        writeCheckpoint({
          topology: sequential({ layers: [{ ...layers[0], config: { ...layers[0].config, activation: 'gelu' } }, ...layers.slice(1)] }),
        }),
      /activation gelu is not supported/,
    ],
    ['a functional model', () => writeCheckpoint({ topology: { class_name: 'Model', config: { layers } } }), /only Sequential models/],
    [
      'an input shape that disagrees with preprocessing.json',
      () =>
        writeCheckpoint({
          topology: sequential({ layers }),
          preprocessing: { ...preprocessing, inputShape: [4], mean: [0, 0, 0, 0], std: [1, 1, 1, 1] },
        }),
      /input shape \[3\] differs/,
    ],
    [
      'a zero std',
      () => writeCheckpoint({ topology: sequential({ layers }), preprocessing: { ...preprocessing, std: [1, 0, 1] } }),
      /std must be finite and > 0/,
    ],
    [
      'weights that belong to no layer',
      () => writeCheckpoint({ topology: sequential({ layers }), weights: [...weights, ['ghost/kernel', [1], [1]]] }),
      /not belonging to any layer: ghost\/kernel/,
    ],
  ];
  for (const [what, make, message] of broken) {
    test(`refuses ${what} with a clear ExportError`, async () => {
      const dir = await make();
      await assert.rejects(readCheckpoint(dir), (err: unknown) => err instanceof ExportError && message.test(err.message));
    });
  }

  test('refuses a missing directory and a weights path outside the checkpoint', async () => {
    await assert.rejects(readCheckpoint('/nonexistent/bnserve'), /cannot read \/nonexistent\/bnserve\/model.json: ENOENT/);
    const dir = await writeCheckpoint({ topology: sequential({ layers }) });
    await writeFile(
      path.join(dir, 'model.json'),
      JSON.stringify({ modelTopology: sequential({ layers }), weightsManifest: [{ paths: ['../weights.bin'], weights: [] }] }),
    );
    await assert.rejects(readCheckpoint(dir), /points outside the checkpoint/);
  });
});

describe('opsFromCheckpoint', () => {
  test('standardisation first, activations split off, Dropout dropped; identity standardisation omitted', async () => {
    const checkpoint = await readCheckpoint(await writeCheckpoint({ topology: sequential({ layers }) }));
    assert.deepEqual(
      opsFromCheckpoint(checkpoint).map((op) => op.kind),
      ['standardize', 'dense', 'activation', 'batchNorm', 'dense', 'activation'],
    );
    const identity = { ...preprocessing, mean: [0, 0, 0], std: [1, 1, 1] };
    const plain = await readCheckpoint(await writeCheckpoint({ topology: sequential({ layers }), preprocessing: identity }));
    assert.deepEqual(
      opsFromCheckpoint(plain).map((op) => op.kind),
      ['dense', 'activation', 'batchNorm', 'dense', 'activation'],
    );
  });

  test('refuses output sizes that disagree with the class labels, and a Dense on an image', async () => {
    const threeLabels = { ...preprocessing, classLabels: ['x', 'y', 'z'] };
    const checkpoint = await readCheckpoint(await writeCheckpoint({ topology: sequential({ layers }), preprocessing: threeLabels }));
    assert.throws(() => opsFromCheckpoint(checkpoint), /the model has 2 outputs but preprocessing.json expects 3/);
    const image = { ...checkpoint, inputShape: [1, 1, 3], preprocessing: { ...checkpoint.preprocessing, inputShape: [1, 1, 3] } };
    assert.throws(() => opsFromCheckpoint(image), /layer dense_0: Dense needs a flat input/);
  });
});
