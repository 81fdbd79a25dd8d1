import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, maxAbsDiff, mlpReference, randomMlp, versionInput } from './fixtures.ts';

const TOKEN = 'budget-admin-token';
const MODELS = ['m0', 'm1', 'm2'];
const PARAMS = MODELS.map((_, i) => randomMlp(700 + i));

type Json = Record<string, any>;
let app: FastifyInstance;

async function infer(model: string) {
  const r = await app.inject({
    method: 'POST',
    url: `/v2/models/${model}/infer`,
    payload: { inputs: [{ name: 'input', shape: [IRIS_ROWS.length, 4], datatype: 'FP32', data: IRIS_ROWS.flat() }] },
  });
  return { status: r.statusCode, json: r.json() as Json };
}

const get = async (url: string) => {
  const r = await app.inject({ method: 'GET', url });
  return { status: r.statusCode, body: r.body, json: () => r.json() as Json };
};

const index = async () =>
  ((await app.inject({ method: 'POST', url: '/v2/repository/index', headers: { authorization: `Bearer ${TOKEN}` } })).json() as Json[]).map(
    (e) => `${e.name}:${e.state}${e.reason ? ` (${e.reason})` : ''}`,
  );

before(async () => {
  const registry = new FakeRegistry();
  for (const [i, name] of MODELS.entries()) await registry.registerVersion(versionInput(name, PARAMS[i], 'classification'));
  app = await buildApp({
    registry,
    env: {},
    providers: ['cpu'],
    adminToken: TOKEN,
    refreshIntervalMs: 0,
    modelBudget: { maxVersions: 2 },
    responseCache: { maxBytes: 1024 * 1024, models: null },
  });
  await app.ready();
});

after(async () => {
  await app.close();
});

describe('memory budget over HTTP', () => {
  it('is ready with a model left unloaded; the index says which versions are in memory', async () => {
    assert.equal((await get('/v2/health/ready')).status, 200);
    assert.equal((await get('/v2/health/ready?strict=true')).status, 200);
    assert.deepEqual(await index(), ['m0:READY', 'm1:READY', 'm2:UNAVAILABLE (unloaded: memory budget (loads on its next request))']);
    const ready = await get('/v2/models/m2/ready');
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json(), { name: 'm2', version: '1', ready: true });
  });

  it('loads the unloaded model for its request, answers its numbers, and unloads the least recently used one', async () => {
    for (const [i, name] of [...MODELS.entries()].reverse()) {
      const r = await infer(name);
      assert.equal(r.status, 200, JSON.stringify(r.json));
      const got = r.json.outputs.find((o: Json) => o.name === 'probabilities').data;
      assert.ok(maxAbsDiff(got, mlpReference(PARAMS[i], 'classification', IRIS_ROWS).flat()) <= 1e-5, `${name}'s own numbers`);
    }
    // m2 loaded (m0 out), then m1 served, then m0 loaded again (m2 out: least recently used).
    assert.deepEqual(await index(), ['m0:READY', 'm1:READY', 'm2:UNAVAILABLE (unloaded: memory budget (loads on its next request))']);
    const metrics = (await get('/metrics')).body;
    assert.match(metrics, /bnserve_model_evictions_total\{model="m0",reason="max_versions"\} 1/);
    assert.match(metrics, /bnserve_model_evictions_total\{model="m2",reason="max_versions"\} 1/);
    assert.match(metrics, /bnserve_model_loads_total\{model="m2",trigger="on_demand"\} 1/);
    assert.match(metrics, /bnserve_model_loads_total\{model="m0",trigger="registry"\} 1/);
    assert.match(metrics, /bnserve_model_cold_start_seconds_count\{model="m0"\} 1/);
    assert.match(metrics, /bnserve_model_memory_estimate_bytes\{model="m1",version="1"\} [1-9]/);
  });

  it("shows the budget, what it unloaded, the cache's hit ratio and the payload log on the dashboard's server view", async () => {
    await infer('m1'); // the same request twice: a cache hit
    const view = (await get('/api/server')).json();
    assert.equal(view.budget.enabled, true);
    assert.equal(view.budget.maxVersions, 2);
    assert.equal(view.budget.loadedVersions, 2);
    assert.ok(view.budget.memoryBytes > 0);
    assert.equal(view.budget.evictions, 2);
    assert.equal(view.budget.coldStarts, 2);
    assert.ok(view.budget.coldStartMeanSeconds > 0);
    assert.deepEqual(
      view.models.map((m: Json) => `${m.name}:${m.evicted.join(',')}`),
      ['m0:', 'm1:', 'm2:1'],
    );
    assert.ok(view.models[0].loaded[0].memoryBytes > 0);
    assert.equal(view.responseCache.enabled, true);
    assert.ok(view.responseCache.hits >= 1 && view.responseCache.hitRatio > 0 && view.responseCache.hitRatio < 1);
    assert.deepEqual(view.payloadLog, { enabled: false, written: 0, dropped: {} });
  });

  it("reports a version's memory estimate in its metadata", async () => {
    const memory = (await get('/v2/models/m1')).json().memory;
    assert.ok(memory.artifact_bytes > 0, JSON.stringify(memory));
    assert.ok(memory.estimate_bytes >= memory.artifact_bytes, JSON.stringify(memory));
  });
});

describe('a load that outlasts BNSERVE_MODEL_LOAD_WAIT_MS over HTTP', () => {
  it('answers 503 with Retry-After while the load goes on, then serves the version', async () => {
    let release = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    class GatedRegistry extends FakeRegistry {
      held = false;
      override async readArtifact(version: Parameters<FakeRegistry['readArtifact']>[0]): Promise<Uint8Array> {
        if (this.held) await gate;
        return super.readArtifact(version);
      }
    }
    const registry = new GatedRegistry();
    for (const [i, name] of MODELS.slice(0, 2).entries()) await registry.registerVersion(versionInput(name, PARAMS[i], 'classification'));
    const gated = await buildApp({
      registry,
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      modelBudget: { maxVersions: 1, loadWaitMs: 1 },
    });
    try {
      await gated.ready();
      registry.held = true; // m1 was left unloaded by the budget: its load now waits at the gate
      const body = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }] };
      const waited = await gated.inject({ method: 'POST', url: '/v2/models/m1/infer', payload: body });
      assert.equal(waited.statusCode, 503, waited.body);
      assert.equal(waited.headers['retry-after'], '1');
      release();
      registry.held = false;
      let served = await gated.inject({ method: 'POST', url: '/v2/models/m1/infer', payload: body });
      for (let i = 0; i < 50 && served.statusCode === 503; i++) {
        await new Promise((r) => setTimeout(r, 20));
        served = await gated.inject({ method: 'POST', url: '/v2/models/m1/infer', payload: body });
      }
      assert.equal(served.statusCode, 200, served.body);
    } finally {
      release();
      await gated.close();
    }
  });
});
