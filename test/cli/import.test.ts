// `bnserve import` as users run it (the built CLI, a real SQLite registry), then the server answering
// from the imported versions: PyTorch's own exports, PyTorch's own answers.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeModel } from '../../src/export/onnx/helpers.ts';
import { openRegistry, type Registry } from '../../src/registry/index.ts';
import { type RunningServer, startServer } from '../../src/serve/index.ts';
import { registryEnv, runCli } from './run-cli.ts';

const FIXTURES = path.join(import.meta.dirname, '../fixtures/pytorch');
const fixture = (file: string) => path.join(FIXTURES, file);
type Tensor = { shape: number[]; data: number[] };
const expected = JSON.parse(readFileSync(fixture('expected.json'), 'utf8')) as Record<string, { input: Tensor; output: Tensor }>;

let dir: string;
let env: Record<string, string>;
const bnserve = (...args: string[]) => runCli(args, env);

/** max |served − PyTorch| / max(1, max |PyTorch|). */
function relativeDiff(served: number[], torch: number[]): number {
  const scale = Math.max(1, ...torch.map(Math.abs));
  return Math.max(...torch.map((t, i) => Math.abs(served[i] - t) / scale));
}

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'bnserve-import-cli-'));
  env = registryEnv(dir);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('bnserve import', () => {
  test('registers the eval-mode export with every BN folded; the same bytes again register nothing', async () => {
    const first = await bnserve(
      'import',
      fixture('cnn_eval_unfolded.onnx'),
      '--name',
      'cnn',
      '--sample',
      fixture('cnn_sample.npy'),
      '--json',
    );
    assert.equal(first.code, 0, first.stderr);
    const result = JSON.parse(first.stdout);
    assert.equal(result.version, 1);
    assert.equal(result.batchNorms, 3);
    assert.deepEqual(
      result.folds.map((f: { op: string }) => f.op),
      ['Conv', 'Conv', 'Gemm'],
    );
    assert.ok(result.parity.maxScaledDiff < 1e-5);
    assert.equal(result.parity.sample, true);
    assert.equal(result.drift.length, 3);
    assert.equal(result.bnGuardWarning, null);

    const again = await bnserve(
      'import',
      fixture('cnn_eval_unfolded.onnx'),
      '--name',
      'cnn',
      '--sample',
      fixture('cnn_sample.npy'),
      '--json',
    );
    assert.equal(again.code, 0, again.stderr);
    assert.equal(JSON.parse(again.stdout).alreadyRegistered, true);
    assert.equal(JSON.parse(again.stdout).version, 1);
    const listed = await bnserve('models', 'show', 'cnn', '--json');
    assert.equal(JSON.parse(listed.stdout).versions.length, 1);
  });

  test('the training-mode export is refused with exit 2 and what to do', async () => {
    const r = await bnserve('import', fixture('cnn_training.onnx'), '--name', 'cnn');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /exported in training mode: BatchNormalization \/features\/features\.1\/BatchNormalization/);
    assert.match(r.stderr, /model\.eval\(\)/);
  });

  test('the untrained export is registered flagged: never the default, promoted only with --force', async () => {
    const r = await bnserve('import', fixture('cnn_untrained.onnx'), '--name', 'cnn');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /imported cnn version 2/);
    assert.match(r.stdout, /FLAGGED by the BN guard: .*moving statistics were never updated/);
    const refused = await bnserve('models', 'promote', 'cnn', '2');
    assert.equal(refused.code, 4);
    assert.match(refused.stderr, /flagged by the BN guard/);
    const viaAlias = await bnserve('import', fixture('cnn_untrained.onnx'), '--name', 'cnn', '--alias', 'production');
    assert.equal(viaAlias.code, 4);
    const forced = await bnserve('models', 'promote', 'cnn', '2', '--alias', 'canary', '--force');
    assert.equal(forced.code, 0, forced.stderr);
  });

  test('the MLP with a CSV sample; a sample of the wrong shape is refused', async () => {
    const rows = expected.mlp.input;
    const csv = ['a,b,c,d', ...Array.from({ length: rows.shape[0] }, (_, r) => rows.data.slice(r * 4, r * 4 + 4).join(','))].join('\n');
    writeFileSync(path.join(dir, 'mlp.csv'), csv);
    const ok = await bnserve('import', fixture('mlp_eval.onnx'), '--name', 'mlp', '--sample', path.join(dir, 'mlp.csv'), '--json');
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(ok.stdout).parity.rows, 16);
    const bad = await bnserve('import', fixture('cnn_eval.onnx'), '--name', 'cnn2', '--sample', path.join(dir, 'mlp.csv'));
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /input "input" has shape \[16, 4\], the model declares \[batch, 1, 6, 6\]/);
  });

  test('a file that is not ONNX is refused with exit 2', async () => {
    writeFileSync(path.join(dir, 'not.onnx'), 'hello');
    const r = await bnserve('import', path.join(dir, 'not.onnx'), '--name', 'x');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not an ONNX model/);
  });
});

describe('serving imported models', () => {
  let registry: Registry;
  let server: RunningServer;
  before(async () => {
    registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
    server = await startServer({ registry, env: {}, host: '127.0.0.1', port: 0, providers: ['cpu'], logger: false, refreshIntervalMs: 0 });
  });
  after(async () => {
    await server?.close();
    await registry?.close();
  });

  test('the registered artifact has no BatchNormalization node, and the default version is the unflagged one', async () => {
    const v = (await registry.getVersion('cnn'))!;
    assert.equal(v.version, 1);
    const ops = decodeModel(await registry.readArtifact(v)).graph!.node!.map((n) => n.opType);
    assert.ok(!ops.includes('BatchNormalization'), ops.join(','));
  });

  test('OIP v2 on the NCHW CNN answers like PyTorch in eval mode (batch of 16)', async () => {
    const { input, output } = expected.cnn;
    const r = await fetch(`${server.url}/v2/models/cnn/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: input.shape, datatype: 'FP32', data: input.data }] }),
    });
    const body = (await r.json()) as { outputs: Array<{ name: string; shape: number[]; data: number[] }> };
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.deepEqual(body.outputs[0].shape, output.shape);
    const diff = relativeDiff(body.outputs[0].data, output.data);
    assert.ok(diff < 1e-4, `relative difference ${diff}`);
  });

  test(':predict on the MLP answers like PyTorch, row by row', async () => {
    const { input, output } = expected.mlp;
    const instances = Array.from({ length: input.shape[0] }, (_, r) => input.data.slice(r * 4, r * 4 + 4));
    const r = await fetch(`${server.url}/v1/models/mlp:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances }),
    });
    const body = (await r.json()) as { predictions: Array<{ prediction: number[] }> };
    assert.equal(r.status, 200, JSON.stringify(body));
    const diff = relativeDiff(
      body.predictions.flatMap((p) => p.prediction),
      output.data,
    );
    assert.ok(diff < 1e-4, `relative difference ${diff}`);
  });

  test('model metadata carries the parity and BN guard facts', async () => {
    const r = await fetch(`${server.url}/v2/models/cnn/versions/2`);
    const body = (await r.json()) as Record<string, unknown>;
    assert.equal(r.status, 200, JSON.stringify(body));
    assert.equal(body.folded, true);
    assert.equal(typeof body.parity_max_abs_diff, 'number');
    assert.match(String(body.bn_guard_warning), /never updated/);
  });
});
