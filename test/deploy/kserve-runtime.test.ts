// Runs deploy/kserve/servingruntime.yaml's container the way KServe would start it, without a cluster:
// the server image's ENTRYPOINT and ENV, then the runtime's args with {{.Name}} filled in (as KServe
// renders the container from the InferenceService's metadata) and /mnt/models replaced by a folder
// holding model.onnx as `bnserve export` writes it (what storageUri would put there), the runtime's
// env, Knative's PORT, and no DATABASE_URL. Checks the runtime's own probe paths, both protocols with
// the labels from the model's metadata, that nothing is written, and exit 0 on SIGTERM.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { registryEnv, runCli } from '../cli/run-cli.ts';
import { readStages, targetConfig } from './dockerfile.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const image = targetConfig(readStages(readFileSync(path.join(root, 'Dockerfile'), 'utf8')), 'server');
const runtime = YAML.parse(readFileSync(path.join(root, 'deploy', 'kserve', 'servingruntime.yaml'), 'utf8'));
const [container] = runtime.spec.containers;
const MODEL = 'iris';
const STARTUP_TIMEOUT_MS = 120_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** KServe's ReplacePlaceholders: the container as a Go template over the InferenceService's metadata (only {{.Name}} here). */
function rendered(text: string): string {
  return text.replaceAll('{{.Name}}', MODEL);
}

let dir: string;
let modelDir: string;
let cwd: string;
let port: number;
let child: ChildProcess;
let exited: Promise<number | null>;
let output = '';

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-kserve-'));
  const env = { ...registryEnv(path.join(dir, 'registry')), BNSERVE_EXECUTION_PROVIDERS: 'cpu' };
  const trained = await runCli(['train', '--config', 'examples/iris-bn.json', '--out', path.join(dir, 'ckpt'), '--no-export'], env);
  assert.equal(trained.code, 0, trained.stderr);
  modelDir = path.join(dir, 'mnt-models');
  mkdirSync(modelDir);
  const exported = await runCli(['export', '--checkpoint', path.join(dir, 'ckpt'), '--out', path.join(modelDir, 'model.onnx')], env);
  assert.equal(exported.code, 0, exported.stderr);

  port = await freePort();
  const args = (container.args as string[]).map((a) =>
    rendered(a)
      .replace('/mnt/models', modelDir)
      .replace(/^--port=\d+$/, `--port=${port}`),
  );
  const literalEnv = Object.fromEntries((container.env ?? []).map((e: { name: string; value: string }) => [e.name, e.value]));
  const { DATABASE_URL: _db, BNSERVE_ARTIFACTS: _artifacts, ...inherited } = process.env;
  cwd = mkdtempSync(path.join(dir, 'cwd-'));
  // ENTRYPOINT node bin/bnserve.js (run from this checkout), the image's ENV, the runtime's env, and
  // PORT as Knative sets it for the container port.
  child = spawn(process.execPath, [path.join(root, image.entrypoint[1]), ...args], {
    cwd,
    env: {
      PATH: inherited.PATH ?? '/usr/bin:/bin',
      HOME: inherited.HOME ?? '/tmp',
      ...image.env,
      ...literalEnv,
      PORT: String(port),
      BNSERVE_LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
});

after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGKILL');
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

const url = (p: string) => `http://127.0.0.1:${port}${p}`;

async function waitFor(p: string, status: number): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    try {
      if ((await fetch(url(p))).status === status) return;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null) assert.fail(`the runtime's container exited ${child.exitCode}: ${output}`);
    if (Date.now() > deadline) assert.fail(`${p} did not answer ${status} within ${STARTUP_TIMEOUT_MS} ms: ${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the ServingRuntime container, started as KServe starts it (KServe-native mode, no database)', () => {
  test('its startup probe passes once the model is loaded; liveness and readiness answer on their paths', async () => {
    await waitFor(rendered(container.startupProbe.httpGet.path), 200);
    assert.equal((await fetch(url(container.livenessProbe.httpGet.path))).status, 200);
    assert.equal((await fetch(url(rendered(container.readinessProbe.httpGet.path)))).status, 200);
    assert.equal((await fetch(url('/v2/health/ready'))).status, 200);
  });

  test('serves the InferenceService’s name over OIP v2 and :predict, labels from the model’s metadata', async () => {
    const meta = (await (await fetch(url(`/v2/models/${MODEL}`))).json()) as { name: string; labels?: string[] };
    assert.equal(meta.name, MODEL);
    assert.deepEqual(meta.labels, ['setosa', 'versicolor', 'virginica']);
    const predicted = await fetch(url(`/v1/models/${MODEL}:predict`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] }),
    });
    const body = (await predicted.json()) as { predictions: Array<{ label: string }> };
    assert.equal(predicted.status, 200, JSON.stringify(body));
    assert.equal(body.predictions[0].label, 'setosa');
    const infer = await fetch(url(`/v2/models/${MODEL}/infer`), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [6.7, 3.0, 5.2, 2.3] }] }),
    });
    assert.equal(infer.status, 200);
    assert.equal((await fetch(url('/v2/models/other/ready'))).status, 404, 'only the InferenceService’s model');
  });

  test('writes nothing (the pod’s root filesystem is read-only), and exits 0 on SIGTERM', async () => {
    assert.deepEqual(readdirSync(cwd), [], 'no registry database or artifact store in the working directory');
    assert.deepEqual(readdirSync(modelDir), ['model.onnx'], 'the model folder is left as it was');
    child.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  });
});
