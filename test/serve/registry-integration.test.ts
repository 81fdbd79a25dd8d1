// The server against the real registry (Prisma + SQLite in a temp dir, content-addressed artifacts).
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openRegistry, STALE_RUN_MS, staleRunMs, type Registry } from '../../src/registry/index.ts';
import { DEFAULT_SERVE_CONFIG, serveConfigFromEnv } from '../../src/serve/config.ts';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { IRIS_ROWS, maxAbsDiff, mlpReference, randomMlp, versionInput } from './fixtures.ts';

const TOKEN = 'integration-token';
const LABELS = ['setosa', 'versicolor', 'virginica'];
const params = { 1: randomMlp(21), 2: randomMlp(22), 3: randomMlp(23) };

let dir: string;
let registry: Registry;
let server: RunningServer;

async function predict(): Promise<{ version: number; probabilities: number[][] }> {
  const r = await fetch(`${server.url}/v1/models/iris:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instances: IRIS_ROWS }),
  });
  assert.equal(r.status, 200);
  const body = (await r.json()) as { model_version: number; predictions: { probabilities: Record<string, number> }[] };
  return { version: body.model_version, probabilities: body.predictions.map((p) => LABELS.map((l) => p.probabilities[l])) };
}

const promote = (version: number) =>
  fetch(`${server.url}/admin/models/iris/promote`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ version, alias: 'production' }),
  });

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'bnserve-serve-registry-'));
  registry = await openRegistry({ databaseUrl: `file:${path.join(dir, 'registry.db')}`, artifactsDir: path.join(dir, 'artifacts') });
  await registry.registerVersion(versionInput('iris', params[1], 'classification'));
  const v2 = await registry.registerVersion(versionInput('iris', params[2], 'classification'));
  await registry.promote('iris', 1, 'production');
  // Damage v2's artifact on disk: its sha256 no longer matches the registry row.
  const bytes = readFileSync(v2.artifactPath);
  bytes[bytes.length - 1] ^= 0xff;
  chmodSync(v2.artifactPath, 0o644);
  writeFileSync(v2.artifactPath, bytes);
  server = await startServer({
    registry,
    env: {},
    host: '127.0.0.1',
    port: 0,
    providers: ['cpu'],
    adminToken: TOKEN,
    logger: false,
    refreshIntervalMs: 0,
    staleRunMs: 10,
  });
});

after(async () => {
  await server?.close();
  await registry?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('serving from the real registry', () => {
  it('serves the production alias with the model output', async () => {
    const r = await predict();
    assert.equal(r.version, 1);
    assert.ok(maxAbsDiff(r.probabilities.flat(), mlpReference(params[1], 'classification', IRIS_ROWS).flat()) <= 1e-5);
  });

  it('refuses to promote a version whose artifact fails verification, and keeps serving', async () => {
    const r = await promote(2);
    assert.equal(r.status, 422);
    assert.match(((await r.json()) as { error: string }).error, /version 2 failed to load, alias "production" was not moved/);
    assert.equal((await registry.getVersion('iris', 'production'))?.version, 1);
    assert.equal((await predict()).version, 1);
    const meta = (await (await fetch(`${server.url}/v2/models/iris`)).json()) as { load_errors: { version: number }[] };
    assert.deepEqual(
      meta.load_errors.map((e) => e.version),
      [2],
    );
  });

  it('promotes a good new version: registry alias moved, new requests answered by it', async () => {
    await registry.registerVersion(versionInput('iris', params[3], 'classification'));
    const r = await promote(3);
    assert.equal(r.status, 200);
    assert.equal((await registry.getVersion('iris', 'production'))?.version, 3);
    const after = await predict();
    assert.equal(after.version, 3);
    assert.ok(maxAbsDiff(after.probabilities.flat(), mlpReference(params[3], 'classification', IRIS_ROWS).flat()) <= 1e-5);
  });

  it('a registry poll marks training runs without a heartbeat as failed', async () => {
    const run = await registry.startRun({ name: 'iris', config: {}, backend: 'cpu', seed: 1 });
    await new Promise((resolve) => setTimeout(resolve, 50)); // older than staleRunMs: 10
    await server.app.models.poll();
    const after = await registry.getRun(run.id);
    assert.equal(after?.status, 'failed');
    assert.match(String(after?.error), /abandoned: no heartbeat/);
  });

  it('reads the stale-run threshold like the registry does at startup', () => {
    assert.equal(DEFAULT_SERVE_CONFIG.staleRunMs, STALE_RUN_MS);
    const serveRule = (raw: string) => {
      try {
        return serveConfigFromEnv({ BNSERVE_STALE_RUN_SECONDS: raw }).staleRunMs;
      } catch {
        return 'invalid';
      }
    };
    const registryRule = (raw: string) => {
      try {
        return staleRunMs({ BNSERVE_STALE_RUN_SECONDS: raw });
      } catch {
        return 'invalid';
      }
    };
    for (const raw of ['', '90', '2.5', '600', '0', '-5', 'soon']) assert.equal(serveRule(raw), registryRule(raw), JSON.stringify(raw));
    assert.equal(serveRule('90'), 90_000);
  });
});
