import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, type TestContext, test } from 'node:test';
import { CheckpointError, readCheckpoint, readMetrics, readPreprocessing } from '../../src/checkpoint/index.ts';
import { layers, preprocessing, sequential, type Weights, weights, writeRawCheckpoint } from './raw-files.ts';

describe('readCheckpoint', () => {
  test('maps weights by layer name, whatever their order in the manifest', async (t) => {
    const shuffled = [weights[5], weights[2], weights[4], weights[0], weights[6], weights[3], weights[1]];
    for (const w of [weights, shuffled]) {
      const checkpoint = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential({ name: 's', layers }), weights: w }));
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

  test('reads both Sequential shapes: config.layers with an InputLayer, and a bare layer array', async (t) => {
    const withInput = [{ class_name: 'InputLayer', config: { name: 'input', batch_input_shape: [null, 3] } }, ...layers];
    const a = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential({ name: 's', layers: withInput }) }));
    const b = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential(layers) }));
    assert.deepEqual(
      a.layers.map((l) => l.name),
      ['dense_0', 'batch_normalization_1', 'dropout_2', 'output'],
    );
    assert.deepEqual(
      b.layers.map((l) => l.name),
      a.layers.map((l) => l.name),
    );
  });

  test('BN without center/scale gets β = 0 and γ = 1', async (t) => {
    const noAffine = layers.map((l) =>
      l.class_name === 'BatchNormalization' ? { ...l, config: { ...l.config, center: false, scale: false } } : l,
    );
    const w = weights.filter(([name]) => !name.endsWith('gamma') && !name.endsWith('beta'));
    const checkpoint = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential({ layers: noAffine }), weights: w }));
    const bn = checkpoint.layers[1];
    assert.ok(bn.kind === 'batchNormalization');
    assert.deepEqual([...bn.gamma, ...bn.beta], [1, 1, 0, 0]);
  });

  test('reports a stale BN guard from metrics.json', async (t) => {
    const dir = await writeRawCheckpoint(t, {
      topology: sequential({ layers }),
      metrics: { bnGuard: { stale: true, residual: 0.4, message: 'too few steps' } },
    });
    assert.deepEqual((await readCheckpoint(dir)).bnGuard, { stale: true, residual: 0.4, message: 'too few steps' });
  });

  const broken: Array<[string, (t: TestContext) => Promise<string>, RegExp]> = [
    [
      'a missing moving statistic',
      (t) => writeRawCheckpoint(t, { topology: sequential({ layers }), weights: weights.slice(0, 6) }),
      /batch_normalization_1\/moving_variance is missing/,
    ],
    [
      'a weight of the wrong shape',
      (t) =>
        writeRawCheckpoint(t, {
          topology: sequential({ layers }),
          weights: weights.map((w): Weights[number] => (w[0] === 'dense_0/bias' ? ['dense_0/bias', [1], [0.1]] : w)),
        }),
      /bias has shape \[1\], expected \[2\]/,
    ],
    [
      'an unsupported layer',
      (t) => writeRawCheckpoint(t, { topology: sequential({ layers: [...layers, { class_name: 'LSTM', config: { name: 'lstm_9' } }] }) }),
      /lstm_9 \(LSTM\): unsupported layer type/,
    ],
    [
      'an unsupported activation',
      (t) =>
        writeRawCheckpoint(t, {
          topology: sequential({ layers: [{ ...layers[0], config: { ...layers[0].config, activation: 'gelu' } }, ...layers.slice(1)] }),
        }),
      /activation gelu is not supported/,
    ],
    [
      'a negative moving variance',
      (t) =>
        writeRawCheckpoint(t, {
          topology: sequential({ layers }),
          weights: weights.map((w): Weights[number] =>
            w[0] === 'batch_normalization_1/moving_variance' ? ['batch_normalization_1/moving_variance', [2], [0.7, -0.1]] : w,
          ),
        }),
      /batch_normalization_1 \(BatchNormalization\): moving_variance has negative entries/,
    ],
    [
      'a channels_first layer',
      (t) =>
        writeRawCheckpoint(t, {
          topology: sequential({
            layers: [layers[0], { ...layers[1], config: { ...layers[1].config, data_format: 'channels_first' } }, ...layers.slice(2)],
          }),
        }),
      /channels_first is not supported/,
    ],
    [
      'an activation named like a prototype member',
      (t) =>
        writeRawCheckpoint(t, {
          topology: sequential({
            layers: [{ ...layers[0], config: { ...layers[0].config, activation: 'constructor' } }, ...layers.slice(1)],
          }),
        }),
      /activation constructor is not supported/,
    ],
    [
      'a functional model',
      (t) => writeRawCheckpoint(t, { topology: { class_name: 'Model', config: { layers } } }),
      /only Sequential models/,
    ],
    [
      'an input shape that disagrees with preprocessing.json',
      (t) =>
        writeRawCheckpoint(t, {
          topology: sequential({ layers }),
          preprocessing: { ...preprocessing, inputShape: [4], mean: [0, 0, 0, 0], std: [1, 1, 1, 1] },
        }),
      /input shape \[3\] differs/,
    ],
    [
      'a zero std',
      (t) => writeRawCheckpoint(t, { topology: sequential({ layers }), preprocessing: { ...preprocessing, std: [1, 0, 1] } }),
      /std must be finite and > 0/,
    ],
    [
      'classification without class labels',
      (t) => writeRawCheckpoint(t, { topology: sequential({ layers }), preprocessing: { ...preprocessing, classLabels: [] } }),
      /preprocessing.json: .*classLabels must be a non-empty array for classification/,
    ],
    [
      'mean and std that do not match the last axis of the input shape',
      (t) => writeRawCheckpoint(t, { topology: sequential({ layers }), preprocessing: { ...preprocessing, mean: [1, 2] } }),
      /mean\/std have 2\/3 entries, expected 3/,
    ],
    [
      'a model.json without weightsManifest',
      async (t) => {
        const dir = await writeRawCheckpoint(t, { topology: sequential({ layers }) });
        await writeFile(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: sequential({ layers }) }));
        return dir;
      },
      /model.json: .*has no weightsManifest/,
    ],
    [
      'a missing weights.bin',
      async (t) => {
        const dir = await writeRawCheckpoint(t, { topology: sequential({ layers }) });
        await rm(path.join(dir, 'weights.bin'));
        return dir;
      },
      /cannot read .*weights.bin: ENOENT/,
    ],
    [
      'weights that belong to no layer',
      (t) => writeRawCheckpoint(t, { topology: sequential({ layers }), weights: [...weights, ['ghost/kernel', [1], [1]]] }),
      /not belonging to any layer: ghost\/kernel/,
    ],
  ];
  for (const [what, make, message] of broken) {
    test(`refuses ${what} with a clear CheckpointError`, async (t) => {
      const dir = await make(t);
      await assert.rejects(readCheckpoint(dir), (err: unknown) => err instanceof CheckpointError && message.test(err.message));
    });
  }

  test('refuses a missing directory and a weights path outside the checkpoint', async (t) => {
    await assert.rejects(readCheckpoint('/nonexistent/bnserve'), /cannot read \/nonexistent\/bnserve\/model.json: ENOENT/);
    const dir = await writeRawCheckpoint(t, { topology: sequential({ layers }) });
    await writeFile(
      path.join(dir, 'model.json'),
      JSON.stringify({ modelTopology: sequential({ layers }), weightsManifest: [{ paths: ['../weights.bin'], weights: [] }] }),
    );
    await assert.rejects(readCheckpoint(dir), /points outside the checkpoint/);
  });

  test('metrics.json is optional for export, and a malformed guard or run id reads as absent', async (t) => {
    const none = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential({ layers }) }));
    assert.deepEqual([none.bnGuard, none.runId], [null, null]);
    const dir = await writeRawCheckpoint(t, { topology: sequential({ layers }), metrics: { runId: 'run-7', bnGuard: { stale: 'yes' } } });
    const checkpoint = await readCheckpoint(dir);
    assert.deepEqual([checkpoint.bnGuard, checkpoint.runId], [null, 'run-7']);
  });
});

describe('readMetrics and readPreprocessing', () => {
  test("a diverged run's null losses (JSON's NaN) read back as NaN, a regression's missing class labels as []", async (t) => {
    const epoch = { epoch: 1, loss: null, dataLoss: null, regularizationLoss: 0, validation: { valLoss: null } };
    const dir = await writeRawCheckpoint(t, {
      topology: sequential({ layers }),
      metrics: { runId: 'r', diverged: true, epochs: [epoch] },
      preprocessing: { task: 'regression', featureNames: ['a'], inputShape: [1], mean: [0], std: [1] },
    });
    const metrics = await readMetrics(dir);
    assert.deepEqual(
      metrics.epochs?.map((e) => [e.loss, e.dataLoss, e.regularizationLoss, e.validation.valLoss]),
      [[NaN, NaN, 0, NaN]],
    );
    assert.deepEqual((await readPreprocessing(dir)).classLabels, []);
  });

  test('a file that is not JSON is named in the error', async (t) => {
    const dir = await writeRawCheckpoint(t, { topology: sequential({ layers }) });
    await writeFile(path.join(dir, 'preprocessing.json'), '{');
    await assert.rejects(
      readPreprocessing(dir),
      (err: unknown) => err instanceof CheckpointError && /preprocessing.json is not valid JSON/.test(err.message),
    );
  });
});
