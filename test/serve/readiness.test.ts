// Readiness that tells the truth, failure reasons without internals, and the registry check, over HTTP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { RegistryError } from '../../src/registry/types.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, randomMlp, versionInput } from './fixtures.ts';

const TOKEN = 'readiness-token';
type Json = Record<string, any>;

async function twoVersions(): Promise<FakeRegistry> {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(41), 'classification'));
  await registry.registerVersion(versionInput('iris', randomMlp(42), 'classification'));
  return registry;
}

async function appFor(registry: FakeRegistry, extra: Partial<Parameters<typeof buildApp>[0]> = {}): Promise<FastifyInstance> {
  const app = await buildApp({ registry, env: {}, providers: ['cpu'], adminToken: TOKEN, refreshIntervalMs: 0, ...extra });
  await app.ready();
  return app;
}

async function call(app: FastifyInstance, method: 'GET' | 'POST', url: string, payload?: unknown, token = false) {
  const r = await app.inject({
    method,
    url,
    ...(payload !== undefined ? { payload: JSON.stringify(payload) } : {}),
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${TOKEN}` } : {}) },
  });
  return { status: r.statusCode, body: r.body, json: (String(r.headers['content-type']).includes('json') ? r.json() : {}) as Json };
}

const rows = { instances: [IRIS_ROWS[0]] };

describe('lenient readiness (BNSERVE_STRICT_READINESS=false)', () => {
  it('stays ready while a failed alias target has an older version serving and while the registry is down; strict does not', async () => {
    const registry = await twoVersions();
    await registry.promote('iris', 1, 'production');
    const lenient = await appFor(registry, { env: { BNSERVE_STRICT_READINESS: 'false' } });
    const strict = await appFor(registry);
    try {
      await registry.promote('iris', 2, 'production');
      registry.removeArtifact('iris', 2);
      await lenient.models.poll();
      await strict.models.poll();
      assert.equal((await call(strict, 'GET', '/v2/health/ready')).status, 503);
      assert.deepEqual((await call(lenient, 'GET', '/v2/health/ready')).json, { ready: true });
      assert.equal((await call(lenient, 'GET', '/v2/models/iris/ready')).status, 200);
      assert.equal((await call(lenient, 'GET', '/v2/health/ready?strict=true')).status, 503, 'alerts can still ask strictly');
      assert.equal((await call(strict, 'GET', '/v2/health/ready?strict=false')).status, 200);

      registry.failWith = new RegistryError('unavailable', 'database down');
      await lenient.models.poll();
      await strict.models.poll();
      assert.match(JSON.stringify((await call(strict, 'GET', '/v2/health/ready')).json), /registry is unavailable/);
      assert.deepEqual((await call(lenient, 'GET', '/v2/health/ready')).json, { ready: true });
      assert.equal((await call(lenient, 'POST', '/v1/models/iris:predict', rows)).json.model_version, 1);
    } finally {
      registry.failWith = null;
      await lenient.close();
      await strict.close();
    }
  });

  it('is not ready while a model has nothing serving its default', async () => {
    const registry = await twoVersions();
    registry.removeArtifact('iris', 2);
    const lenient = await appFor(registry, { env: { BNSERVE_STRICT_READINESS: 'false' } });
    try {
      const ready = await call(lenient, 'GET', '/v2/health/ready');
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.json.reasons, ['model "iris" default: no version serving yet (version 2 failed to load)']);
    } finally {
      await lenient.close();
    }
  });
});

describe('readiness and failed versions', () => {
  it('a default/alias target that failed to load: 503 ready with the reason, previous version serving, no paths shown', async () => {
    const registry = await twoVersions();
    await registry.promote('iris', 1, 'production');
    const app = await appFor(registry);
    try {
      assert.deepEqual((await call(app, 'GET', '/v2/health/ready')).json, { ready: true });
      await registry.promote('iris', 2, 'production'); // `bnserve models promote`, behind the server's back
      registry.removeArtifact('iris', 2);
      await app.models.poll();

      const ready = await call(app, 'GET', '/v2/health/ready');
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.json, {
        ready: false,
        reasons: [
          'model "iris" version 2 failed to load: artifact missing (retrying) (default: version 1 keeps serving, alias "production": version 1 keeps serving)',
        ],
      });
      const modelReady = await call(app, 'GET', '/v2/models/iris/ready');
      assert.equal(modelReady.status, 503);
      assert.equal(modelReady.json.version, '1');
      assert.match(modelReady.json.error, /version 2 failed to load: artifact missing/);
      const v2Ready = await call(app, 'GET', '/v2/models/iris/versions/2/ready');
      assert.equal(v2Ready.status, 503);
      assert.equal(v2Ready.json.error, 'model "iris" version 2 failed to load: artifact missing (retrying)');
      assert.equal((await call(app, 'GET', '/v2/models/iris/versions/1/ready')).status, 200);

      const predicted = await call(app, 'POST', '/v1/models/iris:predict', rows);
      assert.equal(predicted.status, 200);
      assert.equal(predicted.json.model_version, 1, 'the previous version keeps serving');

      const meta = await call(app, 'GET', '/v2/models/iris');
      assert.equal(meta.status, 200);
      assert.equal(meta.json.ready, false);
      assert.equal(meta.json.reasons.length, 1);
      assert.deepEqual(
        meta.json.load_errors.map((e: Json) => [e.version, e.error, e.retrying]),
        [[2, 'artifact missing', true]],
      );
      for (const r of [ready, modelReady, v2Ready, meta]) {
        assert.doesNotMatch(
          r.body,
          /\/memory\/|missing from the store|[0-9a-f]{64}/,
          'no path, store message or hash for anonymous callers',
        );
      }

      const byNumber = await call(app, 'POST', '/v1/models/iris/versions/2:predict', rows);
      assert.equal(byNumber.status, 503);
      assert.equal(byNumber.json.error, 'model "iris" version 2 failed to load: artifact missing (retrying)');

      const admin = await call(app, 'POST', '/v2/repository/models/iris/load', {}, true);
      assert.equal(admin.status, 200);
      assert.equal(admin.json.state, 'UNAVAILABLE', 'the alias target is still missing');
      assert.equal(admin.json.default_version, 1);
      assert.match(admin.json.load_errors[0].detail, /is missing from the store/, 'admins get the detail');
      assert.equal(admin.json.reasons.length, 1);

      const metrics = (await call(app, 'GET', '/metrics')).body;
      assert.match(
        metrics,
        /bnserve_unavailable_responses_total\{route="\/v1\/models\/:model\/versions\/:version:predict",model="iris",reason="load_failed"\} 1/,
      );

      registry.restoreArtifact('iris', 2);
      const reloaded = await call(app, 'POST', '/v2/repository/models/iris/load', {}, true);
      assert.deepEqual([reloaded.json.state, reloaded.json.default_version, reloaded.json.reasons], ['READY', 2, []]);
      assert.deepEqual((await call(app, 'GET', '/v2/health/ready')).json, { ready: true });
      assert.equal((await call(app, 'POST', '/v1/models/iris:predict', rows)).json.model_version, 2);
    } finally {
      await app.close();
    }
  });

  it('restarted with the alias on a corrupt version: not ready, 503 names the version and the reason, load says UNAVAILABLE', async () => {
    const registry = await twoVersions();
    await registry.promote('iris', 2, 'production');
    registry.corruptArtifact('iris', 2);
    const app = await appFor(registry);
    try {
      const ready = await call(app, 'GET', '/v2/health/ready');
      assert.equal(ready.status, 503);
      assert.match(ready.json.reasons[0], /version 2 failed to load: sha256 mismatch \(default: requests get 503/);
      assert.equal((await call(app, 'GET', '/v2/health/live')).status, 200);

      const predicted = await call(app, 'POST', '/v1/models/iris:predict', rows);
      assert.equal(predicted.status, 503);
      assert.equal(predicted.json.error, 'model "iris" has no version ready: version 2 failed to load: sha256 mismatch');
      const labelled = await call(app, 'POST', '/v1/models/iris/labels/production:predict', rows);
      assert.match(labelled.json.error, /alias "production" has no version ready: version 2 failed to load: sha256 mismatch/);

      const admin = await call(app, 'POST', '/v2/repository/models/iris/load', {}, true);
      assert.deepEqual([admin.json.state, admin.json.default_version], ['UNAVAILABLE', null], 'nothing is served: not READY');
      assert.match(admin.json.reasons[0], /version 2 failed to load: sha256 mismatch/);

      const metrics = (await call(app, 'GET', '/metrics')).body;
      assert.match(
        metrics,
        /bnserve_unavailable_responses_total\{route="\/v1\/models\/:model:predict",model="iris",reason="load_failed"\} 1/,
      );
      assert.match(metrics, /bnserve_requests_total\{route="\/v1\/models\/:model:predict",model="",version="",status="503"\} 1/);
    } finally {
      await app.close();
    }
  });
});

describe('registry check', () => {
  it('while the registry fails its check: ready 503, inference and liveness go on, promote 503, gauge 0; back by itself', async () => {
    const registry = await twoVersions();
    const app = await appFor(registry);
    try {
      registry.databaseGone = 'the registry database /srv/bnserve/registry.db was deleted while bnserve was running';
      await app.models.poll();

      const ready = await call(app, 'GET', '/v2/health/ready');
      assert.equal(ready.status, 503);
      assert.deepEqual(ready.json, { ready: false, reasons: ['the model registry is unavailable'] });
      assert.equal((await call(app, 'GET', '/v2/health/live')).status, 200);
      assert.equal((await call(app, 'POST', '/v1/models/iris:predict', rows)).status, 200, 'loaded models keep serving');
      assert.match((await call(app, 'GET', '/metrics')).body, /^bnserve_registry_up 0$/m);

      const promoted = await call(app, 'POST', '/admin/models/iris/promote', { version: 1 }, true);
      assert.equal(promoted.status, 503);
      assert.match(promoted.json.error, /^the model registry is unavailable, so nothing was changed/);
      assert.doesNotMatch(promoted.body, /registry\.db/);
      assert.equal(registry.calls.get('promote') ?? 0, 0, 'no write was attempted');
      const loaded = await call(app, 'POST', '/v2/repository/models/iris/load', {}, true);
      assert.equal(loaded.status, 503);
      assert.match(
        (await call(app, 'GET', '/metrics')).body,
        /bnserve_unavailable_responses_total\{route="\/admin\/models\/:model\/promote",model="iris",reason="registry_unavailable"\} 1/,
      );

      registry.databaseGone = null;
      await app.models.poll();
      assert.deepEqual((await call(app, 'GET', '/v2/health/ready')).json, { ready: true });
      assert.match((await call(app, 'GET', '/metrics')).body, /^bnserve_registry_up 1$/m);
      assert.equal((await call(app, 'POST', '/admin/models/iris/promote', { version: 1 }, true)).status, 200);
    } finally {
      await app.close();
    }
  });

  it('says "shutting down" once the drain has begun', async () => {
    const app = await appFor(await twoVersions());
    try {
      app.lifecycle.draining = true;
      const ready = await call(app, 'GET', '/v2/health/ready');
      assert.deepEqual([ready.status, ready.json], [503, { ready: false, reasons: ['shutting down'] }]);
    } finally {
      await app.close();
    }
  });
});

describe('input names', () => {
  const infer = (name: string) => ({ inputs: [{ name, shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }] });

  it('a single-input model takes any input name by default (KServe), and only its own with BNSERVE_STRICT_INPUT_NAMES', async () => {
    const registry = await twoVersions();
    const lenient = await appFor(registry);
    const strict = await appFor(registry, { env: { BNSERVE_STRICT_INPUT_NAMES: 'true' } });
    try {
      assert.equal((await call(lenient, 'POST', '/v2/models/iris/infer', infer('input-0'))).status, 200);
      const wrong = await call(strict, 'POST', '/v2/models/iris/infer', infer('input-0'));
      assert.equal(wrong.status, 400);
      assert.equal(wrong.json.error, 'inputs[0]: unknown input "input-0" (model inputs: input)');
      assert.equal((await call(strict, 'POST', '/v2/models/iris/infer', infer('input'))).status, 200);
    } finally {
      await lenient.close();
      await strict.close();
    }
  });
});

describe('default alias', () => {
  it('BNSERVE_DEFAULT_ALIAS picks the alias served and checked by default (one KServe canary revision per alias)', async () => {
    const registry = await twoVersions();
    await registry.promote('iris', 2, 'production');
    await registry.promote('iris', 1, 'candidate');
    const app = await appFor(registry, { env: { BNSERVE_DEFAULT_ALIAS: 'candidate' } });
    try {
      assert.equal((await call(app, 'POST', '/v1/models/iris:predict', rows)).json.model_version, 1);
      assert.equal((await call(app, 'GET', '/v2/models/iris/ready')).json.version, '1');
      assert.equal((await call(app, 'POST', '/v1/models/iris/labels/production:predict', rows)).json.model_version, 2);
    } finally {
      await app.close();
    }
  });
});
