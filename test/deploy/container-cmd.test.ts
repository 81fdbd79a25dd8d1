// Runs the deployment the way the images and docker-compose.yml do, without a Docker engine:
// `migrate`, a training job, then the server started with the `server` target's exact ENTRYPOINT +
// CMD and ENV (HOST/PORT/DATABASE_URL/BNSERVE_ARTIFACTS set as compose would), as a non-root user
// when the tests run as root, with @tensorflow/*, tsx and esbuild unresolvable (the server image has none) and the
// artifact folder read-only (compose mounts it :ro). Checks: the image's HEALTHCHECK command passes,
// predictions answer, and SIGTERM (the image's STOPSIGNAL) ends the server with exit code 0.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { readStages, targetConfig } from './dockerfile.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const stages = readStages(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const server = targetConfig(stages, 'server');
const trainer = targetConfig(stages, 'trainer');
const NO_TFJS = pathToFileURL(path.join(import.meta.dirname, 'fixtures', 'no-tfjs.mjs')).href;
const PG_ADMIN_URL = process.env.BNSERVE_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
const MODEL = 'deploy-iris';
const NOBODY = 65534;
const STEP_TIMEOUT_MS = 120_000;

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Files the child reaches by absolute path: the CLI, the no-tfjs preload, a dependency. */
const CHILD_READS = [
  path.join(root, 'bin', 'bnserve.js'),
  fileURLToPath(NO_TFJS),
  path.join(root, 'node_modules', 'fastify', 'package.json'),
];

/**
 * uid/gid for the child processes: nobody when we are root and nobody can read the checkout. Checked
 * by absolute path from "/": the child's cwd is entered before it drops to nobody, so a relative path
 * passes even when a folder above the checkout is private (a clone under a 0700 home).
 */
function childIdentity(): { uid?: number; gid?: number; note: string } {
  if (process.getuid?.() !== 0) return { note: `running as uid ${process.getuid?.()}` };
  const check = spawnSync(
    process.execPath,
    [
      '-e',
      'for (const f of JSON.parse(process.argv[1])) require("fs").accessSync(f, require("fs").constants.R_OK)',
      JSON.stringify(CHILD_READS),
    ],
    { cwd: '/', uid: NOBODY, gid: NOBODY },
  );
  if (check.status === 0) return { uid: NOBODY, gid: NOBODY, note: `running as uid ${NOBODY} (nobody)` };
  return { note: `the checkout (${root}) is not readable by nobody (uid ${NOBODY}): running as root, so the non-root part is not checked` };
}

function imageCommand(config: ReturnType<typeof targetConfig>, args?: string[]): [string, string[]] {
  const words = [...config.entrypoint, ...(args ?? config.cmd)];
  assert.equal(words[0], 'node', 'the image starts node');
  return [process.execPath, words.slice(1)];
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, identity: { uid?: number; gid?: number }): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env, uid: identity.uid, gid: identity.gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), STEP_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

async function waitForReady(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode} before it was ready:\n${output()}`);
    try {
      const response = await fetch(`${url}/v2/health/ready`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`server not ready after ${STEP_TIMEOUT_MS / 1000} s:\n${output()}`);
}

function makeReadOnly(dir: string): void {
  for (const entry of readdirSync(dir)) {
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) makeReadOnly(full);
    else chmodSync(full, 0o444);
  }
  chmodSync(dir, 0o555);
}

async function createDatabase(): Promise<{ url: string; drop: () => Promise<void> } | null> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch {
    return null;
  }
  const name = `bnserve_deploy_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

describe('the server image command, run on this machine', { timeout: 5 * STEP_TIMEOUT_MS }, () => {
  const identity = childIdentity();
  let work = '';
  let artifacts = '';
  let databaseUrl = '';
  let dropDatabase: (() => Promise<void>) | undefined;

  // Only what the image and compose set, plus PATH: nothing leaks in from the test's environment.
  const envFor = (config: ReturnType<typeof targetConfig>, extra: Record<string, string>): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    ...config.env,
    DATABASE_URL: databaseUrl,
    BNSERVE_ARTIFACTS: artifacts,
    ...extra,
  });

  before(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'bnserve-deploy-'));
    chmodSync(work, 0o755);
    artifacts = path.join(work, 'artifacts');
    const database = await createDatabase();
    if (database) {
      databaseUrl = database.url;
      dropDatabase = database.drop;
    } else {
      databaseUrl = `file:${path.join(work, 'registry', 'bnserve.db')}`;
      console.log(`deploy test: PostgreSQL not reachable at ${PG_ADMIN_URL}: using SQLite (${databaseUrl})`);
    }
    console.log(`deploy test: ${identity.note}`);
    if (identity.uid !== undefined) chownSync(work, identity.uid, identity.gid!);
  });

  after(async () => {
    await dropDatabase?.();
    if (work) {
      spawnSync('chmod', ['-R', 'u+w', work]);
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('migrate (compose `migrate` service: the server image, command ["migrate"]) exits 0 without tfjs', async () => {
    const [command, args] = imageCommand(server, ['migrate']);
    const result = await run(command, args, envFor(server, { NODE_OPTIONS: `--import ${NO_TFJS}` }), identity);
    assert.equal(result.code, 0, `migrate failed:\n${result.stdout}\n${result.stderr}`);
  });

  test('control: with tfjs made unresolvable, training fails for want of tfjs', async () => {
    const [command, args] = imageCommand(trainer);
    const env = envFor(trainer, { NODE_OPTIONS: `--import ${NO_TFJS}` });
    const result = await run(
      command,
      [...args, '--name', 'never-registered', '--out', path.join(work, 'control'), '--json'],
      env,
      identity,
    );
    assert.notEqual(result.code, 0, 'training ran although tfjs was blocked: the no-tfjs preload has no effect');
    assert.match(result.stdout + result.stderr, /@tensorflow\//);
  });

  test('a training job (trainer image command) registers a model version', async () => {
    const [command, args] = imageCommand(trainer);
    assert.equal(args[1], 'train');
    const checkpoint = path.join(work, 'checkpoint');
    const result = await run(command, [...args, '--name', MODEL, '--out', checkpoint, '--json'], envFor(trainer, {}), identity);
    assert.equal(result.code, 0, `train failed:\n${result.stdout}\n${result.stderr}`);
    const summary = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '{}');
    assert.equal(summary.model?.name, MODEL, result.stdout);
    assert.equal(summary.model?.version, 1);
  });

  test('`models list` works from the server image (no tfjs), as the README Deploy section tells operators to use it', async () => {
    const [command, args] = imageCommand(server, ['models', 'list', '--json']);
    const result = await run(command, args, envFor(server, { NODE_OPTIONS: `--import ${NO_TFJS}` }), identity);
    assert.equal(result.code, 0, `models list failed:\n${result.stdout}\n${result.stderr}`);
    assert.ok(result.stdout.includes(`"${MODEL}"`), result.stdout);
  });

  test('the server CMD passes the HEALTHCHECK, predicts, and exits 0 on SIGTERM', async (t) => {
    makeReadOnly(artifacts);
    const port = await freePort();
    const env = envFor(server, { HOST: '127.0.0.1', PORT: String(port), NODE_OPTIONS: `--import ${NO_TFJS}` });
    const [command, args] = imageCommand(server);
    const child = spawn(command, args, { cwd: root, env, uid: identity.uid, gid: identity.gid, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const url = `http://127.0.0.1:${port}`;
    await waitForReady(url, child, () => output);

    const health = server.healthcheck!.command;
    const probe = spawnSync(process.execPath, health.slice(1), { env: { PATH: process.env.PATH, PORT: String(port) }, timeout: 30_000 });
    assert.equal(probe.status, 0, `HEALTHCHECK command failed: ${probe.stderr}`);
    const stoppedProbe = spawnSync(process.execPath, health.slice(1), {
      env: { PATH: process.env.PATH, PORT: String(await freePort()) },
      timeout: 30_000,
    });
    assert.equal(stoppedProbe.status, 1, 'the HEALTHCHECK command fails when nothing answers');

    const predict = await fetch(`${url}/v1/models/${MODEL}:predict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        instances: [
          [5.1, 3.5, 1.4, 0.2],
          [6.9, 3.1, 5.4, 2.1],
        ],
      }),
    });
    const body = (await predict.json()) as { predictions: Array<{ label: string; probabilities: Record<string, number> }> };
    assert.equal(predict.status, 200, JSON.stringify(body));
    assert.deepEqual(
      body.predictions.map((p) => p.label),
      ['setosa', 'virginica'],
    );
    for (const p of body.predictions) {
      const total = Object.values(p.probabilities).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(total - 1) < 1e-4, `probabilities sum to ${total}`);
    }

    const infer = await fetch(`${url}/v2/models/${MODEL}/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'deploy', inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }),
    });
    const inferBody = (await infer.json()) as { id?: string; outputs?: Array<{ name: string; shape: number[]; data: number[] }> };
    assert.equal(infer.status, 200, JSON.stringify(inferBody));
    assert.equal(inferBody.id, 'deploy');
    assert.deepEqual(inferBody.outputs?.[0]?.shape, [1, 3]);

    assert.equal(server.stopsignal, 'SIGTERM');
    child.kill(server.stopsignal);
    const { code, signal } = await exited;
    assert.equal(signal, null, `killed by ${signal}:\n${output}`);
    assert.equal(code, 0, `exit code after SIGTERM:\n${output}`);
  });
});
