// The import against models made by PyTorch's own exporters (test/fixtures/pytorch/make_fixtures.py),
// with PyTorch's eval-mode answers recorded beside them, so these tests run without torch.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { importOnnx } from '../../src/export/graph/import-model.ts';
import { type Feeds, runGraph } from '../../src/export/graph/run-graph.ts';
import { decodeModel } from '../../src/export/onnx/helpers.ts';
import { scanMetadata } from '../../src/export/onnx/metadata-scan.ts';
import { readWarmup } from '../../src/export/onnx/warmup.ts';
import { CHECKER_MISSING, checkOnnxFile, onnxCheckerAvailable } from './onnx-checker.ts';

export const PYTORCH_FIXTURES = path.join(import.meta.dirname, '../fixtures/pytorch');
const LIMITS = { maxMeanGap: 1, maxVarianceRatio: 2.5 };

interface Record {
  input: { shape: number[]; data: number[] };
  output: { shape: number[]; data: number[] };
}
const expected = JSON.parse(readFileSync(path.join(PYTORCH_FIXTURES, 'expected.json'), 'utf8')) as { [k: string]: Record };
const fixturePath = (file: string) => path.join(PYTORCH_FIXTURES, file);
const bytes = (file: string) => new Uint8Array(readFileSync(fixturePath(file)));
const feedsOf = (r: Record): Feeds => ({ input: { dims: r.input.shape, data: Float32Array.from(r.input.data) } });
const opTypes = (onnx: Uint8Array) => decodeModel(onnx).graph!.node!.map((n) => n.opType);

/** max |served − PyTorch| / max(1, max |PyTorch|): the "within 1e-4 relative to the output's scale". */
function relativeToTorch(served: ArrayLike<number>, torch: number[]): number {
  const scale = Math.max(1, ...torch.map(Math.abs));
  let worst = 0;
  for (let i = 0; i < torch.length; i++) worst = Math.max(worst, Math.abs(served[i] - torch[i]) / scale);
  return worst;
}

describe('importing PyTorch exports', () => {
  const evalCases = [
    { file: 'cnn_eval.onnx', record: 'cnn', bns: 1 },
    { file: 'cnn_eval_unfolded.onnx', record: 'cnn', bns: 3 },
    { file: 'cnn_dynamo.onnx', record: 'cnn', bns: 3 },
    { file: 'mlp_eval.onnx', record: 'mlp', bns: 1 },
  ];
  for (const c of evalCases) {
    test(`${c.file}: every BN folded, answers equal PyTorch's eval mode within 1e-4`, async () => {
      const record = expected[c.record];
      const result = await importOnnx({ onnx: bytes(c.file), sample: feedsOf(record), driftLimits: LIMITS });
      assert.equal(result.batchNorms, c.bns);
      assert.equal(result.folds.length, c.bns);
      assert.ok(
        result.folds.every((f) => f.into !== null),
        JSON.stringify(result.folds),
      );
      assert.ok(!opTypes(result.onnx).includes('BatchNormalization'));
      assert.equal(result.bnGuardWarning, null, result.bnGuardWarning ?? '');
      const served = await runGraph(result.onnx, feedsOf(record));
      const diff = relativeToTorch(served.logits.data as Float32Array, record.output.data);
      assert.ok(diff < 1e-4, `${c.file}: ${diff}`);
      assert.ok(result.parity.maxScaledDiff < 1e-5, `parity ${result.parity.maxScaledDiff}`);
      const warmup = readWarmup(scanMetadata(result.onnx));
      assert.deepEqual(warmup?.inputs[0].shape, [4, ...record.input.shape.slice(1)], 'the sample’s first rows are the warm-up');
    });
  }

  test('the folded graphs pass onnx.checker (full check)', { skip: onnxCheckerAvailable ? false : CHECKER_MISSING }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-import-'));
    let checked = 0;
    try {
      for (const c of evalCases) {
        const result = await importOnnx({ onnx: bytes(c.file), sample: feedsOf(expected[c.record]), driftLimits: LIMITS });
        // Debian's onnx may be older than the exporter (dynamo writes IR 10): what it cannot check in
        // the original, it is not asked to check in the folded graph.
        if (checkOnnxFile(fixturePath(c.file)) !== null) continue;
        const file = path.join(dir, c.file);
        writeFileSync(file, result.onnx);
        assert.equal(checkOnnxFile(file), null, c.file);
        checked++;
      }
      assert.ok(checked >= 3, `${checked} folded graphs checked`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the parity gate refuses a fold that differs from the original by more than the tolerance', async () => {
    // Folding changes float32 rounding a little; a tolerance of 0 leaves no room for it.
    await assert.rejects(
      importOnnx({ onnx: bytes('cnn_eval_unfolded.onnx'), sample: feedsOf(expected.cnn), tolerance: 0 }),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'export_failed');
        assert.match(
          e.message,
          /parity check failed: the folded graph differs from the original by up to .* on 16 rows; the tolerance is 0/,
        );
        return true;
      },
    );
  });

  test('the training-mode export is refused, naming its BN nodes', async () => {
    await assert.rejects(importOnnx({ onnx: bytes('cnn_training.onnx'), driftLimits: LIMITS }), (e: Error) => {
      assert.match(e.message, /training mode: BatchNormalization \/features\/features\.1\/BatchNormalization/);
      return true;
    });
  });

  test('the untrained export is flagged: its statistics were never updated', async () => {
    const result = await importOnnx({ onnx: bytes('cnn_untrained.onnx'), driftLimits: LIMITS });
    assert.deepEqual(result.untrained, ['/head/head.2/BatchNormalization']);
    assert.match(result.bnGuardWarning ?? '', /moving statistics were never updated/);
    const served = await runGraph(result.onnx, feedsOf(expected.cnn_untrained));
    assert.ok(relativeToTorch(served.logits.data as Float32Array, expected.cnn_untrained.output.data) < 1e-4);
  });
});
