// End to end: trainer-built models trained a few steps with fit(), saved with the trainer's
// checkpoint writer, exported folded and unfolded, compared with tfjs and each other.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { readCheckpoint, readPreprocessing } from '../../src/checkpoint/index.ts';
import { ExportError, exportCheckpoint, type ExportResult } from '../../src/export/index.ts';
import { decodeModel, readMetadata } from '../../src/export/onnx/helpers.ts';
import { onnxFacts } from '../../src/serve/dashboard/onnx-facts.ts';
import { measureParity } from '../../src/export/parity.ts';
import { runOnnx } from '../../src/export/ort-runner.ts';
import { loadCheckpointModel } from '../../src/train/tfjs-checkpoint.ts';
import type { LayerSpec } from '../../src/train/config.ts';
import { applyStandardization } from '../../src/train/standardize.ts';
import {
  bn,
  conv,
  dense,
  IRIS_LIKE,
  relu,
  SMALL_CNN,
  THREE_BLOCK_MLP,
  trainedCheckpoint,
  type Fixture,
  type FixtureOptions,
} from './fixtures.ts';
import { CHECKER_MISSING, checkOnnxFile, onnxCheckerAvailable } from './onnx-checker.ts';

const fixtures: Fixture[] = [];
after(() => Promise.all(fixtures.map((f) => f.cleanup())));

async function fixture(options: FixtureOptions): Promise<Fixture> {
  const f = await trainedCheckpoint(options);
  fixtures.push(f);
  return f;
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

async function tfjsPredict(dir: string, rows: Float32Array): Promise<Float32Array> {
  const p = await readPreprocessing(dir);
  const model = await loadCheckpointModel(dir);
  const n = rows.length / p.inputShape.reduce((a, b) => a * b, 1);
  const out = tf.tidy(
    () => (model.predict(tf.tensor(applyStandardization(rows, p), [n, ...p.inputShape])) as tf.Tensor).dataSync() as Float32Array,
  );
  model.dispose();
  return out;
}

const opTypes = (r: ExportResult) => decodeModel(r.onnx).graph!.node!.map((n) => n.opType ?? '');

/** Every exported file, checked by onnx.checker in the last test. */
const exportedFiles: string[] = [];

async function keepForChecker(f: Fixture, results: ExportResult[]): Promise<void> {
  for (const r of results) {
    const file = path.join(f.dir, `exported-${exportedFiles.length}.onnx`);
    await writeFile(file, r.onnx);
    exportedFiles.push(file);
  }
}

const cases: Array<[string, FixtureOptions, number]> = [
  ['Iris-like MLP (4-16-BN-relu-3)', { layers: IRIS_LIKE, features: 4 }, 1],
  ['MLP with three BN blocks (one Dense without bias, non-default ε, dropout)', { layers: THREE_BLOCK_MLP, features: 6 }, 3],
  [
    'small CNN (conv→BN→relu→pool→conv→BN→relu→flatten→dense)',
    { layers: SMALL_CNN, image: { height: 8, width: 8, channels: 2 }, samples: 48 },
    2,
  ],
  [
    'CNN with a valid conv first, same avg-pooling, a BN after pooling and flatten',
    {
      layers: [
        conv(3, 'valid'),
        bn(),
        relu,
        { type: 'avgPool2d', poolSize: 2, strides: 2, padding: 'same' },
        bn(0.01),
        { type: 'flatten' },
        dense(6, 'relu6'),
      ],
      image: { height: 7, width: 7, channels: 2 },
      samples: 48,
    },
    2,
  ],
];

describe('exportCheckpoint on trained models', () => {
  for (const [name, options, bnCount] of cases) {
    test(name, async () => {
      const f = await fixture(options);
      const checkpoint = await readCheckpoint(f.dir);
      const bnLayers = checkpoint.layers.filter((l) => l.kind === 'batchNormalization');
      assert.equal(bnLayers.length, bnCount);
      for (const layer of bnLayers) {
        // fit() moved the moving statistics away from their initial 0 / 1.
        assert.ok(
          layer.movingMean.some((v) => Math.abs(v) > 1e-2),
          `${layer.name} moving_mean is still ~0`,
        );
        assert.ok(
          layer.movingVariance.some((v) => Math.abs(v - 1) > 1e-2),
          `${layer.name} moving_variance is still ~1`,
        );
      }

      const folded = await exportCheckpoint({ checkpointDir: f.dir, parityRows: f.rows, runId: 'run-1' });
      const unfolded = await exportCheckpoint({ checkpointDir: f.dir, fold: false, parityRows: f.rows });
      assert.ok(folded.parityMaxAbsDiff <= 1e-5, `folded parity ${folded.parityMaxAbsDiff}`);
      assert.ok(unfolded.parityMaxAbsDiff <= 1e-5, `unfolded parity ${unfolded.parityMaxAbsDiff}`);

      const [input] = folded.inputs;
      const dims = [f.rows.length / input.shape.slice(1).reduce((a, b) => a * b, 1), ...input.shape.slice(1)];
      const names = { input: 'input', output: 'probabilities' };
      const yFolded = await runOnnx(folded.onnx, f.rows, dims, names);
      const yUnfolded = await runOnnx(unfolded.onnx, f.rows, dims, names);
      const yTfjs = await tfjsPredict(f.dir, f.rows);
      assert.ok(maxDiff(yFolded, yTfjs) <= 1e-5, `folded vs tfjs ${maxDiff(yFolded, yTfjs)}`);
      assert.ok(maxDiff(yFolded, yUnfolded) <= 1e-5, `folded vs unfolded ${maxDiff(yFolded, yUnfolded)}`);

      assert.ok(!opTypes(folded).includes('BatchNormalization'), `folded graph: ${opTypes(folded).join(',')}`);
      assert.ok(!opTypes(folded).includes('Mul'), 'every BN of these models can be folded');
      const bnNodes = decodeModel(unfolded.onnx).graph!.node!.filter((n) => n.opType === 'BatchNormalization');
      assert.deepEqual(
        bnNodes.map((n) => n.attribute!.find((a) => a.name === 'epsilon')!.f),
        bnLayers.map((l) => (l.kind === 'batchNormalization' ? Math.fround(l.epsilon) : NaN)),
        'unfolded BatchNormalization nodes carry the trained ε',
      );

      const meta = readMetadata(decodeModel(folded.onnx));
      assert.equal(meta.folded, 'true');
      assert.equal(meta.run_id, 'run-1');
      assert.equal(meta.parity_max_abs_diff, String(folded.parityMaxAbsDiff));
      assert.deepEqual(JSON.parse(meta.class_labels), checkpoint.preprocessing.classLabels);
      // Folded away from the graph, the standardisation stays readable (the dashboard's default grid uses it).
      const { mean, std } = checkpoint.preprocessing;
      assert.deepEqual(onnxFacts(folded.onnx).standardization, { mean, std });
      assert.equal(readMetadata(decodeModel(unfolded.onnx)).folded, 'false');
      assert.deepEqual(folded.outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }]);
      assert.deepEqual(folded.warnings, []);

      await keepForChecker(f, [folded, unfolded]);
    });
  }

  test('regression: output "prediction" [batch, 1], opsets 13 and 21', async () => {
    const f = await fixture({ layers: [dense(8), bn(), relu, dense(4, 'tanh')] as LayerSpec[], features: 5, task: 'regression' });
    const results = [];
    for (const opset of [13, 21]) {
      const r = await exportCheckpoint({ checkpointDir: f.dir, opset, parityRows: f.rows });
      assert.equal(r.task, 'regression');
      assert.equal(r.opset, opset);
      assert.deepEqual(r.outputs, [{ name: 'prediction', datatype: 'FP32', shape: [-1, 1] }]);
      assert.ok(r.parityMaxAbsDiff <= 1e-4, `parity ${r.parityMaxAbsDiff}`);
      results.push(r);
    }
    // onnx 1.12's checker knows opsets up to 17 only; check the opset-13 file.
    await keepForChecker(f, results.slice(0, 1));
  });

  test('onnx.checker.check_model(full_check=True) accepts every exported file', {
    skip: !onnxCheckerAvailable && CHECKER_MISSING,
  }, async () => {
    assert.equal(exportedFiles.length, 2 * cases.length + 1);
    for (const file of exportedFiles) assert.equal(checkOnnxFile(file), null, path.basename(file));
    // The check itself can fail: a truncated file is rejected.
    const truncated = `${exportedFiles[0]}.truncated.onnx`;
    await writeFile(truncated, (await readFile(exportedFiles[0])).subarray(0, 100));
    assert.notEqual(checkOnnxFile(truncated), null);
  });
});

describe('the parity gate and warnings', () => {
  test('refuses to export when the difference exceeds the tolerance', async () => {
    const f = await fixture({ layers: IRIS_LIKE, features: 4 });
    await assert.rejects(
      exportCheckpoint({ checkpointDir: f.dir, parityTolerance: 1e-12 }),
      (err: unknown) => err instanceof ExportError && /parity check failed: .* the tolerance is 1e-12/.test(err.message),
    );
  });

  test('measureParity sees a model that does not match the checkpoint', async () => {
    const a = await fixture({ layers: IRIS_LIKE, features: 4, seed: 5 });
    const b = await fixture({ layers: IRIS_LIKE, features: 4, seed: 6 });
    const exportedA = await exportCheckpoint({ checkpointDir: a.dir });
    const checkpointB = await readCheckpoint(b.dir);
    const parity = await measureParity({
      onnx: exportedA.onnx,
      checkpointDir: b.dir,
      preprocessing: checkpointB.preprocessing,
      inputShape: [4],
      names: { input: 'input', output: 'probabilities' },
      rows: b.rows,
    });
    assert.ok(parity.maxAbsDiff > 1e-3, `a different model should not pass: ${parity.maxAbsDiff}`);
  });

  test('warns when metrics.json says the BN statistics are stale; refuses a bad opset', async () => {
    const f = await fixture({ layers: IRIS_LIKE, features: 4 });
    await writeFile(
      path.join(f.dir, 'metrics.json'),
      JSON.stringify({ bnGuard: { stale: true, residual: 0.37, message: 'only 12 BN updates' } }),
    );
    const r = await exportCheckpoint({ checkpointDir: f.dir });
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0], /stale \(residual 0.37\): only 12 BN updates/);
    assert.equal(r.bnGuardWarning, r.warnings[0], 'the finding goes to the registry too');
    await assert.rejects(exportCheckpoint({ checkpointDir: f.dir, opset: 9 }), /opset 9 is not supported \(use 13\.\.21/);
    await assert.rejects(exportCheckpoint({ checkpointDir: f.dir, parityRows: [[1, 2, 3]] }), /parity row 0 has 3 values, expected 4/);
  });
});
