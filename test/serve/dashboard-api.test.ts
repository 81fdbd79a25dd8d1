// The dashboard's JSON API (/api) and its static route (/ui), on the fake registry with real ONNX sessions.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { BN_GUARD_DEFAULTS } from '../../src/lib/bn.ts';
import { buildApp } from '../../src/serve/index.ts';
import { dashboardStaticRoutes } from '../../src/serve/dashboard/static.ts';
import { FakeRegistry } from './fake-registry.ts';
import { LABELS, mlpReference, randomMlp, versionInput } from './fixtures.ts';
import { tempDir } from '../train/helpers.ts';

type Json = Record<string, any>;

const TWO_FEATURES = randomMlp(11, 2, 5, 3);
const BN_CONFIG = {
  layers: [
    { type: 'dense', units: 4 },
    { type: 'batchNormalization', momentum: 0.99 },
  ],
};
const LINEAR_CONFIG = { layers: [] };

let app: FastifyInstance;
let registry: FakeRegistry;
const ids: Record<string, string> = {};

async function record(
  name: string,
  config: unknown,
  epochs: number[],
  finish: { status: 'succeeded' | 'failed'; bnSteps?: number; error?: string },
) {
  const run = await registry.startRun({ name, config, backend: 'cpu', seed: 1 });
  for (const [epoch, loss] of epochs.entries()) {
    await registry.recordEpoch(run.id, { epoch, loss, dataLoss: loss, regularizationLoss: 0, metrics: { accuracy: 0.5 + epoch / 10 } });
  }
  await registry.finishRun(run.id, finish);
  await new Promise((resolve) => setTimeout(resolve, 3)); // distinct startedAt, newest first
  return run.id;
}

async function get(url: string) {
  const r = await app.inject({ method: 'GET', url });
  return { status: r.statusCode, json: (String(r.headers['content-type']).includes('json') ? r.json() : {}) as Json, headers: r.headers };
}

before(async () => {
  registry = new FakeRegistry();
  ids.flaggedNoVersion = await record('bn-net', BN_CONFIG, [1, 0.5], { status: 'succeeded', bnSteps: 10 });
  ids.bnOk = await record('bn-net', BN_CONFIG, [1, 0.5, 0.25], { status: 'succeeded', bnSteps: 1000 });
  ids.diverged = await record('adaline', LINEAR_CONFIG, [50, 2232, Number.POSITIVE_INFINITY], {
    status: 'failed',
    error: 'training diverged: the loss became Infinity at epoch 2 (learning rate 0.01)',
  });
  ids.abandoned = await record('adaline', LINEAR_CONFIG, [50], { status: 'failed', error: 'abandoned: no heartbeat' });
  ids.pair = await record('pair', LINEAR_CONFIG, [1, 0.9], { status: 'succeeded' });
  await registry.registerVersion({ ...versionInput('bn-net', randomMlp(1), 'classification'), runId: ids.bnOk });
  await registry.registerVersion({ ...versionInput('pair', TWO_FEATURES, 'classification'), runId: ids.pair });
  await registry.promote('pair', 1, 'production');
  app = await buildApp({ registry, env: {}, providers: ['cpu'], adminToken: 'token', refreshIntervalMs: 0 });
  await app.ready();
});

after(() => app?.close());

describe('GET /api/runs', () => {
  it('lists every run newest first with status, epochs, final metrics and the BN guard verdict', async () => {
    const { status, json } = await get('/api/runs');
    assert.equal(status, 200);
    const byId = new Map(json.runs.map((r: Json) => [r.id, r]));
    assert.deepEqual(
      json.runs.map((r: Json) => r.id),
      [ids.pair, ids.abandoned, ids.diverged, ids.bnOk, ids.flaggedNoVersion],
    );
    const diverged = byId.get(ids.diverged) as Json;
    assert.equal(diverged.status, 'failed');
    assert.equal(diverged.diverged, true);
    assert.equal(diverged.epochs, 3);
    assert.equal(diverged.finalMetrics.loss, null, 'Infinity is sent as null');
    assert.equal((byId.get(ids.abandoned) as Json).diverged, false);
    assert.equal((byId.get(ids.bnOk) as Json).bnGuard.verdict, 'ok');
    assert.deepEqual((byId.get(ids.bnOk) as Json).versions, [{ name: 'bn-net', version: 1 }]);
    const flagged = (byId.get(ids.flaggedNoVersion) as Json).bnGuard;
    assert.equal(flagged.verdict, 'flagged', '0.99^10 = 90% of the initial statistics left');
    assert.match(flagged.detail, /after 10 update steps/);
    assert.equal((byId.get(ids.pair) as Json).bnGuard.verdict, 'no-bn');
  });

  it('filters by model name and status; "diverged" selects the failed runs that diverged', async () => {
    assert.deepEqual(
      (await get('/api/runs?name=bn-net')).json.runs.map((r: Json) => r.id),
      [ids.bnOk, ids.flaggedNoVersion],
    );
    assert.deepEqual(
      (await get('/api/runs?status=failed')).json.runs.map((r: Json) => r.id),
      [ids.abandoned, ids.diverged],
    );
    assert.deepEqual(
      (await get('/api/runs?status=diverged')).json.runs.map((r: Json) => r.id),
      [ids.diverged],
    );
    assert.deepEqual((await get('/api/runs?name=no-such-model')).json.runs, []);
    assert.deepEqual((await get('/api/runs?name=%2F..%2Fbad')).json.runs, [], 'a name no model can have matches nothing');
  });

  it('refuses an unknown status or a bad limit with a 400 naming the parameter', async () => {
    const bad = await get('/api/runs?status=done');
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /status/);
    assert.equal((await get('/api/runs?limit=0')).status, 400);
  });
});

describe('GET /api/runs/:id', () => {
  it('answers every epoch, the config and the registered versions', async () => {
    const { status, json } = await get(`/api/runs/${ids.bnOk}`);
    assert.equal(status, 200);
    assert.deepEqual(
      json.epochMetrics.map((e: Json) => e.loss),
      [1, 0.5, 0.25],
    );
    assert.deepEqual(json.config, BN_CONFIG);
    assert.equal(json.registeredVersions.length, 1);
    assert.match(json.registeredVersions[0].sha256, /^[0-9a-f]{64}$/);
    assert.equal(json.bnGuardDetails.steps, 1000);
    assert.deepEqual(
      json.bnGuardDetails.layers.map((l: Json) => [l.index, l.momentum]),
      [[1, 0.99]],
    );
    assert.ok(json.bnGuardDetails.layers[0].residual < 1e-4);
    assert.deepEqual(json.bnGuardDetails.limits, BN_GUARD_DEFAULTS, 'a config without bnGuard was checked against the defaults');
  });

  it('keeps a diverged run’s non-finite epochs as null', async () => {
    const { json } = await get(`/api/runs/${ids.diverged}`);
    assert.deepEqual(
      json.epochMetrics.map((e: Json) => e.loss),
      [50, 2232, null],
    );
  });

  it('answers 404 for an unknown run', async () => {
    const r = await get('/api/runs/no-such-run');
    assert.equal(r.status, 404);
    assert.match(r.json.error, /does not exist/);
  });
});

describe('GET /api/models', () => {
  it('latestUnflaggedVersion is null when the BN guard flagged every version', async (t) => {
    const flagged = new FakeRegistry();
    await flagged.registerVersion({ ...versionInput('stale', TWO_FEATURES, 'classification'), bnGuardWarning: 'stale statistics' });
    const other = await buildApp({ registry: flagged, env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
    t.after(() => other.close());
    const r = await other.inject('/api/models/stale');
    assert.equal(r.statusCode, 200);
    assert.equal(r.json().latestVersion, 1);
    assert.equal(r.json().latestUnflaggedVersion, null);
    assert.equal((await get('/api/models/pair')).json.latestUnflaggedVersion, 1);
  });

  it('lists versions with sha256, parity, folded flag, metadata and aliases, and what is served', async () => {
    const { status, json } = await get('/api/models');
    assert.equal(status, 200);
    const pair = json.models.find((m: Json) => m.name === 'pair');
    assert.deepEqual(pair.aliases, { production: 1 });
    assert.deepEqual(pair.versions[0].aliases, ['production']);
    assert.equal(pair.versions[0].folded, true);
    assert.deepEqual(pair.versions[0].featureNames, ['sepal_length', 'sepal_width']);
    assert.equal(pair.served.defaultVersion, 1);
    assert.deepEqual(pair.served.loadedVersions, [1]);
    assert.equal((await get('/api/models/pair')).json.name, 'pair');
    assert.equal((await get('/api/models/nothing')).status, 404);
  });
});

describe('GET /api/models/:m/versions/:v/decision-regions', () => {
  it('answers the served model’s class at every grid point (ranges from the graph’s standardisation)', async () => {
    const { status, json } = await get('/api/models/pair/versions/1/decision-regions?resolution=7');
    assert.equal(status, 200);
    assert.deepEqual(json.features, ['sepal_length', 'sepal_width']);
    assert.deepEqual(json.classes, LABELS);
    assert.equal(json.cells.length, 49);
    const [x0, x1] = json.xRange;
    assert.ok(Math.abs(x0 - (TWO_FEATURES.mean[0] - 3 * TWO_FEATURES.std[0])) < 1e-4);
    for (const k of [0, 24, 48]) {
      const x = x0 + ((x1 - x0) * (k % 7)) / 6;
      const y = json.yRange[0] + ((json.yRange[1] - json.yRange[0]) * Math.floor(k / 7)) / 6;
      const p = mlpReference(TWO_FEATURES, 'classification', [[x, y]])[0];
      assert.equal(json.cells[k], p.indexOf(Math.max(...p)), `cell ${k}`);
    }
  });

  it('refuses grids float32 cannot evaluate, and empty values, with a short 400 (and a short log line)', async () => {
    const log: string[] = [];
    const logged = await buildApp({
      registry,
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      logger: { level: 'info', stream: { write: (line: string) => log.push(line) } },
    });
    after(() => logged.close());
    const cases: [string, RegExp][] = [
      ['xMin=1e39&xMax=1e40&yMin=1e39&yMax=1e40', /xMin: must be a finite number within ±3\.4028234663852886e\+38 \(float32\)/],
      ['xMin=-Infinity&xMax=0', /querystring\.xMin/],
      ['xMin=-3e38&xMax=3e38', /span \(maximum − minimum\) overflows float32/],
      ['yMin=1e30&yMax=1.00000001e30', /equal in float32/],
      ['xMin=1e30&xMax=1.000001e30&resolution=200', /200 grid points are not distinct in float32/],
      ['xMin=2&xMax=1', /below/],
      ['xMin=1', /give both xMin and xMax, or neither/],
      ['xMin=&xMax=1', /xMin: must be a number, not empty/],
      ['x=', /x: must be a number, not empty/],
      ['resolution=', /resolution: must be a number, not empty/],
    ];
    for (const [query, message] of cases) {
      const r = await logged.inject(`/api/models/pair/versions/1/decision-regions?${query}`);
      assert.equal(r.statusCode, 400, `${query}: ${r.body.slice(0, 200)}`);
      assert.match(r.json().error, message, query);
    }
    const bytes = log.reduce((n, line) => n + line.length, 0);
    assert.ok(bytes < 1000 * cases.length, `${bytes} bytes of log for ${cases.length} refused requests`);
  });

  it('refuses the same feature twice, an index out of range, and an unknown version', async () => {
    assert.equal((await get('/api/models/pair/versions/1/decision-regions?x=1&y=1')).status, 400);
    assert.equal((await get('/api/models/pair/versions/1/decision-regions?x=5')).status, 400);
    assert.equal((await get('/api/models/pair/versions/9/decision-regions')).status, 404);
  });
});

it('GET /api/models/:m/versions/:v/metadata answers the graph’s metadata_props', async () => {
  const { status, json } = await get('/api/models/pair/versions/1/metadata');
  assert.equal(status, 200);
  assert.equal(typeof json.metadata, 'object');
  assert.equal((await get('/api/models/pair/versions/7/metadata')).status, 404);
});

describe('GET /api/server', () => {
  it('answers loaded versions with their execution provider, queue depth and histograms', async () => {
    await app.inject({ method: 'POST', url: '/v1/models/pair:predict', payload: { instances: [[5, 3]] } });
    const { status, json } = await get('/api/server');
    assert.equal(status, 200);
    const pair = json.models.find((m: Json) => m.name === 'pair');
    assert.equal(pair.loaded[0].executionProvider, 'CPUExecutionProvider');
    assert.equal(json.queueDepth, 0);
    assert.deepEqual(json.configuredProviders, ['cpu']);
    const names = json.histograms.map((h: Json) => h.name);
    assert.ok(names.includes('bnserve_request_duration_seconds') && names.includes('bnserve_batch_size'));
    const batch = json.histograms.find((h: Json) => h.name === 'bnserve_batch_size');
    assert.ok(batch.count >= 1);
    assert.equal(
      batch.buckets.reduce((n: number, b: Json) => n + b.count, 0),
      batch.count,
      'per-bucket counts add up to the total',
    );
  });
});

it('documents the /api routes in the OpenAPI document', async () => {
  const { json } = await get('/docs/json');
  for (const route of [
    '/api/runs',
    '/api/runs/{id}',
    '/api/models',
    '/api/server',
    '/api/models/{model}/versions/{version}/decision-regions',
  ]) {
    assert.ok(json.paths[route], `${route} in /docs`);
  }
  assert.equal(json.paths['/ui/'], undefined, 'the static route stays out of the API document');
});

describe('/ui', () => {
  async function staticApp(root: string) {
    const ui = Fastify();
    await ui.register(dashboardStaticRoutes, { root });
    return ui;
  }

  it('answers 503 saying how to build when dist/ui is missing', async (t) => {
    const ui = await staticApp(path.join(await tempDir(t), 'missing'));
    t.after(() => ui.close());
    const r = await ui.inject('/ui/');
    assert.equal(r.statusCode, 503);
    assert.match(r.body, /npm run build:ui/);
    assert.equal((await ui.inject('/ui/assets/x.js')).statusCode, 503);
  });

  it('serves the page with a same-origin CSP, its assets, and the page for deep links', async (t) => {
    const root = await tempDir(t);
    await mkdir(path.join(root, 'assets'));
    await writeFile(path.join(root, 'index.html'), '<!doctype html><title>bnserve</title>');
    await writeFile(path.join(root, 'assets', 'app-1.js'), 'console.log(1)');
    const ui = await staticApp(root);
    t.after(() => ui.close());
    const redirect = await ui.inject('/ui');
    assert.equal(redirect.statusCode, 302);
    assert.equal(redirect.headers.location, '/ui/');
    const page = await ui.inject('/ui/');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<title>bnserve/);
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    const asset = await ui.inject('/ui/assets/app-1.js');
    assert.equal(asset.statusCode, 200);
    assert.match(String(asset.headers['cache-control']), /immutable/);
    assert.match((await ui.inject('/ui/runs/abc')).body, /<title>bnserve/);
    assert.equal((await ui.inject('/ui/assets/missing.js')).statusCode, 404);
  });
});
