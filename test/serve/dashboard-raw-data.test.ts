// Who reads training rows and server paths through the dashboard API (BNSERVE_DASHBOARD_RAW_DATA),
// on the fake registry with real ONNX sessions and a real CSV.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

type Json = Record<string, any>;

const TOKEN = 'raw-data-token';
const TWO_FEATURES = randomMlp(11, 2, 5, 3);
const ROWS = [
  [5.1, 3.5, 'setosa'],
  [4.9, 3.0, 'setosa'],
  [7.0, 3.2, 'versicolor'],
  [6.4, 3.2, 'versicolor'],
  [6.3, 3.3, 'virginica'],
  [5.8, 2.7, 'virginica'],
] as const;

let dir: string;
let registry: FakeRegistry;
const ids: Record<string, string> = {};
const apps: FastifyInstance[] = [];

async function appWith(env: Record<string, string>, adminToken: string | null = TOKEN) {
  const app = await buildApp({ registry, env, providers: ['cpu'], adminToken: adminToken ?? undefined, refreshIntervalMs: 0 });
  await app.ready();
  apps.push(app);
  return app;
}

async function get(app: FastifyInstance, url: string, token?: string) {
  const r = await app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: r.statusCode, json: r.json() as Json, body: r.body, headers: r.headers };
}

const REGIONS = '/api/models/pair/versions/1/decision-regions?resolution=5';

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'bnserve-raw-data-'));
  const csv = path.join(dir, 'pair-rows.csv');
  await writeFile(csv, `sepal_length,sepal_width,species\n${ROWS.map((r) => r.join(',')).join('\n')}\n`);
  registry = new FakeRegistry();
  const config = { name: 'pair', task: 'classification', data: { kind: 'csv', path: csv, labelColumn: 'species' }, layers: [] };
  const run = await registry.startRun({ name: 'pair', config, backend: 'cpu', seed: 1 });
  await registry.finishRun(run.id, { status: 'succeeded' });
  ids.pair = run.id;
  const diverged = await registry.startRun({ name: 'adaline', config: { ...config, name: 'adaline' }, backend: 'cpu', seed: 1 });
  await registry.finishRun(diverged.id, {
    status: 'failed',
    error: `training diverged: the loss became Infinity at epoch 2. Its epochs and cost plot are kept in ${dir}/runs/adaline/${diverged.id} (metrics.json, cost.svg).`,
  });
  ids.diverged = diverged.id;
  await registry.registerVersion({ ...versionInput('pair', TWO_FEATURES, 'classification'), runId: run.id });
});

after(async () => {
  for (const app of apps) await app.close();
  await rm(dir, { recursive: true, force: true });
});

describe('BNSERVE_DASHBOARD_RAW_DATA=admin', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await appWith({ BNSERVE_DASHBOARD_RAW_DATA: 'admin' });
  });

  it('decision regions: no training rows for an anonymous caller, ranges from the graph, and why', async () => {
    const { status, json, headers } = await get(app, REGIONS);
    assert.equal(status, 200);
    assert.deepEqual(json.points, []);
    assert.match(json.pointsHidden, /admin token.*BNSERVE_DASHBOARD_RAW_DATA=everyone/);
    assert.ok(Math.abs(json.xRange[0] - (TWO_FEATURES.mean[0] - 3 * TWO_FEATURES.std[0])) < 1e-4, 'mean − 3 std, not the data range');
    assert.match(String(headers.vary), /authorization/i);
    assert.deepEqual((await get(app, REGIONS, 'wrong-token')).json.points, [], 'a wrong token is anonymous');
  });

  it('decision regions: the admin token shows every row, and ranges from the data', async () => {
    const { status, json } = await get(app, REGIONS, TOKEN);
    assert.equal(status, 200);
    assert.equal(json.pointsHidden, null);
    assert.deepEqual(
      json.points.map((p: Json) => [p.x, p.y, p.label]),
      ROWS.map(([x, y, label]) => [Math.fround(x), Math.fround(y), ['setosa', 'versicolor', 'virginica'].indexOf(label)]),
    );
    assert.ok(Math.abs(json.xRange[0] - (4.9 - 0.21)) < 1e-4, 'the data range padded by a tenth');
  });

  it('a run: the config names the data file without its folders, for anonymous callers only', async () => {
    const anonymous = await get(app, `/api/runs/${ids.pair}`);
    assert.equal(anonymous.status, 200);
    assert.equal(anonymous.json.config.data.path, 'pair-rows.csv');
    assert.equal(anonymous.json.config.data.labelColumn, 'species');
    assert.ok(!anonymous.body.includes(dir), 'no server folder anywhere in the answer');
    assert.equal((await get(app, `/api/runs/${ids.pair}`, TOKEN)).json.config.data.path, path.join(dir, 'pair-rows.csv'));
  });

  it('runs: error texts name no server folder for anonymous callers (list and detail)', async () => {
    for (const url of ['/api/runs?status=diverged', `/api/runs/${ids.diverged}`]) {
      const anonymous = await get(app, url);
      assert.equal(anonymous.status, 200);
      assert.ok(!anonymous.body.includes(dir), `${url}: ${anonymous.body.slice(0, 300)}`);
      const error = anonymous.json.runs?.[0]?.error ?? anonymous.json.error;
      assert.match(error, new RegExp(`kept in …/${ids.diverged} \\(metrics\\.json, cost\\.svg\\)\\.$`));
      assert.ok((await get(app, url, TOKEN)).body.includes(dir), 'the admin sees the folder');
    }
  });

  it('without an admin token configured, nobody gets rows, and the reason says how to enable them', async () => {
    const closed = await appWith({ BNSERVE_DASHBOARD_RAW_DATA: 'admin' }, null);
    const { json } = await get(closed, REGIONS, TOKEN);
    assert.deepEqual(json.points, []);
    assert.match(json.pointsHidden, /set BNSERVE_ADMIN_TOKEN/);
  });
});

describe('BNSERVE_DASHBOARD_RAW_DATA=auto (the default) follows HOST', () => {
  it('a server listening beyond loopback hides rows and paths from anonymous callers', async () => {
    const app = await appWith({ HOST: '0.0.0.0' });
    assert.deepEqual((await get(app, REGIONS)).json.points, []);
    assert.equal((await get(app, `/api/runs/${ids.pair}`)).json.config.data.path, 'pair-rows.csv');
    assert.equal((await get(app, REGIONS, TOKEN)).json.points.length, ROWS.length);
  });

  it('a loopback server shows them to everyone', async () => {
    const app = await appWith({ HOST: '127.0.0.1' });
    const { json, headers } = await get(app, REGIONS);
    assert.equal(json.points.length, ROWS.length);
    assert.equal(json.pointsHidden, null);
    assert.equal(headers.vary, undefined);
    assert.equal((await get(app, `/api/runs/${ids.pair}`)).json.config.data.path, path.join(dir, 'pair-rows.csv'));
  });

  it('"everyone" opens them beyond loopback too', async () => {
    const app = await appWith({ HOST: '0.0.0.0', BNSERVE_DASHBOARD_RAW_DATA: 'everyone' });
    assert.equal((await get(app, REGIONS)).json.points.length, ROWS.length);
  });
});
