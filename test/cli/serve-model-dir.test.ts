// `bnserve serve --model-name NAME --model-dir DIR`: KServe's way in (a folder, no database), and
// BNSERVE_MIGRATE_ON_START=false (the server never creates or migrates the registry).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { scanMetadata } from '../../src/export/onnx/metadata-scan.ts';
import { readWarmup } from '../../src/export/onnx/warmup.ts';
import { ROOT, registryEnv, runCli } from './run-cli.ts';

const PYTORCH = path.join(ROOT, 'test/fixtures/pytorch');
let dir: string;
const children: ChildProcess[] = [];

/** Starts `bnserve serve ARGS` in `cwd` without DATABASE_URL; resolves with its URL once it has loaded. */
function serve(args: string[], cwd: string, env: Record<string, string> = {}): Promise<string> {
  const { DATABASE_URL: _, BNSERVE_ARTIFACTS: __, ...inherited } = process.env;
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/bnserve.js'), 'serve', '--port', '0', ...args], {
    cwd,
    env: { ...inherited, HOST: '127.0.0.1', BNSERVE_GRPC_PORT: '0', BNSERVE_EXECUTION_PROVIDERS: 'cpu', BNSERVE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      out += d;
      const m = /bnserve listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`bnserve serve exited ${code}: ${err}`)));
  });
}

const post = (url: string, body: unknown) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-model-dir-'));
  const env = { ...registryEnv(path.join(dir, 'registry')), BNSERVE_EXECUTION_PROVIDERS: 'cpu' };
  const trained = await runCli(['train', '--config', 'examples/iris-bn.json', '--out', path.join(dir, 'ckpt'), '--no-export'], env);
  assert.equal(trained.code, 0, trained.stderr);
  mkdirSync(path.join(dir, 'iris'));
  const exported = await runCli(['export', '--checkpoint', path.join(dir, 'ckpt'), '--out', path.join(dir, 'iris', 'model.onnx')], env);
  assert.equal(exported.code, 0, exported.stderr);
});
after(() => {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

describe('KServe-native mode', () => {
  test('DIR/model.onnx as export writes it, no DATABASE_URL: OIP v2 and :predict with the labels from its metadata', async () => {
    const cwd = mkdtempSync(path.join(dir, 'cwd-'));
    const url = await serve(['--model-name', 'iris', '--model-dir', path.join(dir, 'iris')], cwd);
    const meta = (await (await fetch(`${url}/v2/models/iris`)).json()) as Record<string, unknown>;
    assert.deepEqual(meta.labels, ['setosa', 'versicolor', 'virginica']);
    assert.equal(meta.task, 'classification');
    assert.equal(meta.folded, true);
    const predicted = await post(`${url}/v1/models/iris:predict`, { instances: [[5.1, 3.5, 1.4, 0.2]] });
    const body = (await predicted.json()) as { predictions: Array<{ label: string }> };
    assert.equal(predicted.status, 200, JSON.stringify(body));
    assert.equal(body.predictions[0].label, 'setosa');
    const infer = await post(`${url}/v2/models/iris/infer`, {
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }],
    });
    assert.equal(infer.status, 200);
    assert.deepEqual(readdirSync(cwd), [], 'no registry database or artifact store was created');
    const warmup = readWarmup(scanMetadata(new Uint8Array(readFileSync(path.join(dir, 'iris', 'model.onnx')))));
    assert.deepEqual(warmup?.inputs[0].shape, [1, 4], 'export without a test split: one warm-up row at the training mean');
  });

  test('a warmup.json beside the model that the model cannot answer: the version fails to load and says why', async () => {
    const folder = path.join(dir, 'warm');
    mkdirSync(folder);
    copyFileSync(path.join(dir, 'iris', 'model.onnx'), path.join(folder, 'model.onnx'));
    writeFileSync(
      path.join(folder, 'warmup.json'),
      JSON.stringify({ inputs: [{ name: 'input', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }),
    );
    const url = await serve(['--model-name', 'iris', '--model-dir', folder], mkdtempSync(path.join(dir, 'cwd-')));
    const ready = await fetch(`${url}/v2/health/ready`);
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(await ready.json()), /version 1 failed to load: warm-up failed/);
  });

  test('a Triton-style repository with a PyTorch export: imported (BN folded) at start, served under the name', async () => {
    const repo = path.join(dir, 'repo');
    mkdirSync(path.join(repo, 'cnn', '3'), { recursive: true });
    copyFileSync(path.join(PYTORCH, 'cnn_eval_unfolded.onnx'), path.join(repo, 'cnn', '3', 'model.onnx'));
    const url = await serve(['--model-name', 'cnn', '--model-dir', repo], mkdtempSync(path.join(dir, 'cwd-')));
    const meta = (await (await fetch(`${url}/v2/models/cnn`)).json()) as Record<string, unknown>;
    assert.equal(meta.version, '3');
    assert.equal(meta.folded, true);
    assert.equal(meta.bn_guard_warning, null);
    const infer = await post(`${url}/v2/models/cnn/infer`, {
      inputs: [{ name: 'input', shape: [1, 1, 6, 6], datatype: 'FP32', data: Array(36).fill(0.5) }],
    });
    assert.equal(infer.status, 200, await infer.clone().text());
  });

  test('a training-mode export is refused at start: exit 2 naming the BN nodes', async () => {
    const bad = path.join(dir, 'bad');
    mkdirSync(bad);
    copyFileSync(path.join(PYTORCH, 'cnn_training.onnx'), path.join(bad, 'model.onnx'));
    const r = await runCli(['serve', '--port', '0', '--model-name', 'cnn', '--model-dir', bad], { BNSERVE_GRPC_PORT: '0' });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /model\.onnx was refused: the model was exported in training mode: BatchNormalization/);
  });

  test('--model-dir without --model-name, or a folder with no model: exit 2 saying what is expected', async () => {
    const alone = await runCli(['serve', '--port', '0', '--model-dir', dir], { BNSERVE_GRPC_PORT: '0' });
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--model-dir and --model-name go together/);
    const empty = mkdtempSync(path.join(dir, 'empty-'));
    const none = await runCli(['serve', '--port', '0', '--model-name', 'x', '--model-dir', empty], { BNSERVE_GRPC_PORT: '0' });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /holds no model for "x": expected model\.onnx/);
  });
});

test('BNSERVE_MIGRATE_ON_START=false: serve neither creates nor migrates a registry', async () => {
  const fresh = mkdtempSync(path.join(dir, 'fresh-'));
  const r = await runCli(['serve', '--port', '0'], { ...registryEnv(fresh), BNSERVE_GRPC_PORT: '0', BNSERVE_MIGRATE_ON_START: 'false' });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /there is no registry at .* yet: .*bnserve migrate/);
  assert.equal(existsSync(path.join(fresh, 'registry.db')), false);
});
