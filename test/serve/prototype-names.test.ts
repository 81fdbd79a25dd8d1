// JavaScript's built-in property names ("toString", "constructor", "__proto__"…) sent wherever user
// text names something: aliases, model names, version labels, output and input names, feature keys,
// header values. Each must be "no such thing" (404) or "not a valid name" (400), never a 503 or 500,
// and never counted as a model that is not loaded yet.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { classPredictions } from '../../src/serve/dataplane/predictions.ts';
import { defaultTarget, ServedModel } from '../../src/serve/dataplane/serving-table.ts';
import { rowsToTensor } from '../../src/serve/dataplane/tensor-data.ts';
import { FakeRegistry } from './fake-registry.ts';
import { FEATURES, IRIS_ROWS, pairVersionInput, randomMlp, versionInput } from './fixtures.ts';

const TOKEN = 'test-admin-token';
/** Own names of Object.prototype, plus __proto__: what a plain-object lookup finds without being told. */
const PROTOTYPE_NAMES = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', '__defineGetter__'];
/** The registry's name rules (model names, aliases) start with a letter or digit: these two are 400s. */
const validName = (name: string) => /^[A-Za-z]/.test(name);

let app: FastifyInstance;

before(async () => {
  const registry = new FakeRegistry();
  const iris = versionInput('iris', randomMlp(1), 'classification');
  await registry.registerVersion(iris);
  await registry.promote('iris', 1, 'production');
  await registry.registerVersion(pairVersionInput('pair', versionInput('pair', randomMlp(3, 4, 5, 1), 'regression')));
  app = await buildApp({ registry, env: {}, providers: ['cpu'], adminToken: TOKEN, refreshIntervalMs: 0 });
  await app.ready();
});

after(async () => {
  await app.close();
});

interface Answer {
  status: number;
  error: string;
}

async function send(method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
  const r = await app.inject({
    method,
    url,
    headers: { ...(payload !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    ...(payload !== undefined ? { payload: typeof payload === 'string' ? payload : JSON.stringify(payload) } : {}),
  });
  const body = r.headers['content-type']?.toString().includes('json') ? (r.json() as { error?: string }) : {};
  return { status: r.statusCode, error: body.error ?? '' };
}

const predictBody = { instances: [IRIS_ROWS[0]] };
const inferBody = (extra: object = {}) => ({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }], ...extra });

async function notLoadedCount(): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
  return [...text.matchAll(/^bnserve_unavailable_responses_total\{[^}]*reason="not_loaded"[^}]*\} (\d+)/gm)].reduce(
    (sum, m) => sum + Number(m[1]),
    0,
  );
}

describe('prototype names over HTTP', () => {
  for (const name of PROTOTYPE_NAMES) {
    const path = encodeURIComponent(name);
    // A valid name that names nothing is a 404 that says so; an invalid one is a 400 from the name rule.
    const expectMissing = (a: Answer, what: RegExp, where: string) => {
      assert.ok(a.status < 500, `${where}: ${a.status} ${a.error}`);
      if (validName(name)) {
        assert.equal(a.status, 404, `${where}: ${a.error}`);
        assert.match(a.error, what, where);
        assert.doesNotMatch(a.error, /function|native code|\[object/, where);
      } else {
        assert.equal(a.status, 400, `${where}: ${a.error}`);
      }
    };

    it(`alias "${name}": 404 "no alias" on :predict, status and metadata`, async () => {
      const noAlias = new RegExp(`model "iris" has no alias "${name}"`);
      expectMissing(await send('POST', `/v1/models/iris/labels/${path}:predict`, predictBody), noAlias, ':predict');
      expectMissing(await send('GET', `/v1/models/iris/labels/${path}`), noAlias, 'status');
      expectMissing(await send('GET', `/v1/models/iris/labels/${path}/metadata`), noAlias, 'metadata');
    });

    it(`model "${name}": 404 "not found" on every per-model route`, async () => {
      const notFound = new RegExp(`model "${name}" not found`);
      expectMissing(await send('POST', `/v1/models/${path}:predict`, predictBody), notFound, ':predict');
      expectMissing(await send('POST', `/v2/models/${path}/infer`, inferBody()), notFound, 'infer');
      expectMissing(await send('GET', `/v2/models/${path}`), notFound, 'metadata');
      expectMissing(await send('GET', `/v2/models/${path}/ready`), notFound, 'ready');
      expectMissing(await send('GET', `/v2/models/${path}/config`), notFound, 'config');
      expectMissing(await send('GET', `/v2/models/${path}/stats`), notFound, 'stats');
      expectMissing(await send('GET', `/v1/models/${path}`), notFound, 'TF-Serving status');
      const admin = { authorization: `Bearer ${TOKEN}` };
      expectMissing(await send('GET', `/admin/models/${path}/batching`, undefined, admin), notFound, 'batching');
      expectMissing(await send('PUT', `/admin/models/${path}/batching`, {}, admin), notFound, 'batching (PUT)');
    });

    it(`version "${name}": 400 (versions are numbers)`, async () => {
      for (const [method, url] of [
        ['GET', `/v2/models/iris/versions/${path}`],
        ['POST', `/v1/models/iris/versions/${path}:predict`],
      ] as const) {
        const a = await send(method, url, method === 'POST' ? predictBody : undefined);
        assert.equal(a.status, 400, `${url}: ${a.error}`);
        assert.match(a.error, /version must be a positive integer/);
      }
    });

    it(`output "${name}": 400 unknown output`, async () => {
      const a = await send('POST', '/v2/models/iris/infer', inferBody({ outputs: [{ name }] }));
      assert.equal(a.status, 400, a.error);
      assert.match(a.error, /unknown output/);
    });

    it(`input "${name}" of a two-input model: 400 unknown input`, async () => {
      const a = await send('POST', '/v2/models/pair/infer', {
        inputs: [
          { name, shape: [1, 2], datatype: 'FP32', data: [1, 2] },
          { name: 'b', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        ],
      });
      assert.equal(a.status, 400, a.error);
      assert.match(a.error, /unknown input/);
    });

    it(`feature key "${name}" in a row object: 400`, async () => {
      const row = `{${[...FEATURES, name].map((f, i) => `${JSON.stringify(f)}: ${i + 1}`).join(', ')}}`;
      const a = await send('POST', '/v1/models/iris:predict', `{"instances": [${row}]}`);
      assert.equal(a.status, 400, a.error);
      assert.match(a.error, name === '__proto__' ? /not allowed/ : /unknown feature/);
    });

    it(`Content-Encoding "${name}": 415 that names the encodings accepted`, async () => {
      const a = await send('POST', '/v1/models/iris:predict', predictBody, { 'content-encoding': name });
      assert.equal(a.status, 415, a.error);
      assert.match(a.error, /Content-Encoding .* is not supported/);
    });
  }

  it('counted none of them as a model that is not loaded yet', async () => {
    assert.equal(await notLoadedCount(), 0);
  });
});

describe('prototype names in the serving state', () => {
  it('a default alias named like a built-in ("constructor") that is not set falls back to the latest version', () => {
    const model = new ServedModel('iris', 'constructor');
    model.latestUnflaggedVersion = 3;
    assert.equal(defaultTarget(model), 3);
    model.registryAliases = { constructor: 2 };
    assert.equal(defaultTarget(model), 2);
  });

  it('a row object is missing a feature named like a built-in ("valueOf") when it does not give it', () => {
    const opts = { target: 'float32' as const, rowShape: [2], featureNames: ['a', 'valueOf'] };
    assert.throws(() => rowsToTensor([{ a: 1 }], opts), /instances\[0\]: missing feature "valueOf"/);
    assert.deepEqual([...rowsToTensor([{ a: 1, valueOf: 2 }], opts)], [1, 2]);
  });

  it('class labels named like built-ins ("__proto__", "constructor") are answered as labels', () => {
    const [p] = classPredictions({ shape: [1, 3], data: [0.2, 0.5, 0.3] }, ['__proto__', 'constructor', 'x']);
    assert.equal(p.label, 'constructor');
    assert.ok(Object.hasOwn(p.probabilities, '__proto__'), 'own "__proto__" key');
    assert.equal(Object.getPrototypeOf(p.probabilities), Object.prototype);
    assert.deepEqual(JSON.parse(JSON.stringify(p.probabilities)), JSON.parse('{"__proto__": 0.2, "constructor": 0.5, "x": 0.3}'));
  });
});
