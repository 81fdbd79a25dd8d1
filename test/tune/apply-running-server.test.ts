// End to end: a server is running on a registry; `bnserve tune --apply` (another process) stores a
// batching override there; the running server uses it after its next registry poll, and a server
// started afterwards uses it from the start.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { openRegistry, type Registry } from '../../src/registry/index.ts';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { registryEnv, runCli } from '../cli/run-cli.ts';
import { randomMlp, versionInput } from '../serve/fixtures.ts';

const TOKEN = 'tune-e2e-token';
let dir: string;
let env: Record<string, string>;
let registry: Registry;
const servers: RunningServer[] = [];

async function serve(): Promise<RunningServer> {
  const server = await startServer({
    registry,
    env: {},
    host: '127.0.0.1',
    port: 0,
    grpcPort: null,
    providers: ['cpu'],
    logger: false,
    adminToken: TOKEN,
    refreshIntervalMs: 0, // the test polls by hand: no timers, no waiting
  });
  servers.push(server);
  return server;
}

async function get(server: RunningServer, url: string): Promise<Record<string, unknown>> {
  const r = await fetch(`${server.url}${url}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200, url);
  return (await r.json()) as Record<string, unknown>;
}

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-tune-apply-'));
  env = { ...registryEnv(dir), BNSERVE_EXECUTION_PROVIDERS: 'cpu' };
  registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
  await registry.registerVersion(versionInput('iris', randomMlp(7, 4, 16, 3), 'classification'));
});

after(async () => {
  for (const server of servers) await server.close();
  await registry?.close();
  await rm(dir, { recursive: true, force: true });
});

test('tune --apply: a server started before it uses the override after a poll; one started after, at once', async () => {
  const running = await serve();
  const before = (await get(running, '/admin/models/iris/batching')) as { effective: Record<string, unknown> };
  assert.equal(before.effective.maxBatchSize, 512, 'the server-wide default before tuning');

  const tuned = await runCli(
    ['tune', 'iris', '--apply', '--json', '--budget-s', '12', '--concurrency', '2', '--window-s', '1', '--warmup-s', '1'],
    env,
  );
  assert.equal(tuned.code, 0, tuned.stderr);
  const applied = JSON.parse(tuned.stdout).applied as Record<string, unknown>;
  assert.ok(applied, 'tune stored an override');
  assert.deepEqual((await registry.listModelSettings!())[0].batching, applied);

  await running.app.dataPlane.models.poll();
  const after = (await get(running, '/admin/models/iris/batching')) as { override: unknown; effective: Record<string, unknown> };
  assert.deepEqual(after.override, applied);
  for (const [knob, value] of Object.entries(applied)) assert.deepEqual(after.effective[knob], value, knob);
  const config = (await get(running, '/v2/models/iris/config')) as { max_batch_size: number; instance_group: { count: number }[] };
  assert.equal(config.max_batch_size, applied.maxBatchSize);
  assert.equal(config.instance_group[0].count, applied.instanceCount);

  const started = await serve();
  const fresh = (await get(started, '/admin/models/iris/batching')) as { override: unknown; effective: Record<string, unknown> };
  assert.deepEqual(fresh.override, applied);
  for (const [knob, value] of Object.entries(applied)) assert.deepEqual(fresh.effective[knob], value, `${knob} (new server)`);
});
