// TensorFlow Serving REST compatibility: what a TF Serving client sends and reads.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, maxAbsDiff, mlpReference, randomMlp, versionInput } from './fixtures.ts';

const A = randomMlp(1);
const B = randomMlp(2);
type Json = Record<string, any>;
let app: FastifyInstance;

before(async () => {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', A, 'classification'));
  await registry.registerVersion(versionInput('iris', B, 'classification'));
  await registry.promote('iris', 1, 'production');
  await registry.promote('iris', 2, 'staging');
  app = await buildApp({ registry, env: {}, providers: ['cpu'], limits: { maxRows: 8 }, refreshIntervalMs: 0 });
  await app.ready();
});
after(() => app.close());

async function call(method: 'GET' | 'POST', url: string, payload?: unknown) {
  const r = await app.inject({
    method,
    url,
    ...(payload === undefined ? {} : { payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } }),
  });
  return { status: r.statusCode, json: r.json() as Json };
}

describe('TF Serving model status', () => {
  it('GET /v1/models/{m} lists every loaded version as AVAILABLE with error_code OK', async () => {
    const r = await call('GET', '/v1/models/iris');
    assert.equal(r.status, 200);
    const ok = { error_code: 'OK', error_message: '' };
    assert.deepEqual(r.json, {
      model_version_status: [
        { version: '2', state: 'AVAILABLE', status: ok },
        { version: '1', state: 'AVAILABLE', status: ok },
      ],
    });
  });
  it('by version and by label', async () => {
    const v = await call('GET', '/v1/models/iris/versions/2');
    assert.equal(v.status, 200);
    assert.deepEqual(
      v.json.model_version_status.map((s: Json) => s.version),
      ['2'],
    );
    const l = await call('GET', '/v1/models/iris/labels/production');
    assert.equal(l.status, 200);
    assert.deepEqual(
      l.json.model_version_status.map((s: Json) => [s.version, s.state]),
      [['1', 'AVAILABLE']],
    );
  });
  it('404 with {"error"} for an unknown model, version or label', async () => {
    for (const url of ['/v1/models/nope', '/v1/models/iris/versions/9', '/v1/models/iris/labels/canary']) {
      const r = await call('GET', url);
      assert.equal(r.status, 404, url);
      assert.equal(typeof r.json.error, 'string');
    }
  });
});

describe('TF Serving model metadata', () => {
  it('GET /v1/models/{m}/metadata answers the serving_default signature_def', async () => {
    const r = await call('GET', '/v1/models/iris/metadata');
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.model_spec, { name: 'iris', signature_name: '', version: '1' });
    const sig = r.json.metadata.signature_def.signature_def.serving_default;
    assert.equal(sig.method_name, 'tensorflow/serving/predict');
    assert.deepEqual(sig.inputs.input, {
      dtype: 'DT_FLOAT',
      tensor_shape: {
        dim: [
          { size: '-1', name: '' },
          { size: '4', name: '' },
        ],
        unknown_rank: false,
      },
      name: 'input',
    });
    assert.deepEqual(Object.keys(sig.outputs), ['probabilities']);
    assert.equal((await call('GET', '/v1/models/iris/versions/2/metadata')).json.model_spec.version, '2');
    assert.equal((await call('GET', '/v1/models/iris/labels/production/metadata')).json.model_spec.version, '1');
  });
});

describe('TF Serving :predict request forms', () => {
  it('columnar {"inputs": rows} is answered with {"outputs": the output tensor}', async () => {
    const expected = mlpReference(A, 'classification', IRIS_ROWS);
    for (const inputs of [IRIS_ROWS, { input: IRIS_ROWS }]) {
      const r = await call('POST', '/v1/models/iris:predict', { inputs });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.predictions, undefined);
      assert.equal(r.json.outputs.length, IRIS_ROWS.length);
      r.json.outputs.forEach((row: number[], i: number) => {
        assert.ok(maxAbsDiff(row, expected[i]) <= 1e-5);
      });
    }
  });
  it('signature_name: "serving_default" or absent; another name is a 400', async () => {
    assert.equal((await call('POST', '/v1/models/iris:predict', { signature_name: 'serving_default', instances: IRIS_ROWS })).status, 200);
    const r = await call('POST', '/v1/models/iris:predict', { signature_name: 'predict_images', instances: IRIS_ROWS });
    assert.equal(r.status, 400);
    assert.match(r.json.error, /serving_default/);
  });
  it('refuses both forms at once, neither, a wrong input name, and too many rows', async () => {
    const cases: [unknown, RegExp][] = [
      [{ instances: IRIS_ROWS, inputs: IRIS_ROWS }, /either "instances".*or "inputs".*not both/],
      [{}, /instances is required.*or the columnar form/],
      [{ inputs: { images: IRIS_ROWS } }, /inputs: expected \{"input"/],
      [{ inputs: Array(9).fill(IRIS_ROWS[0]) }, /too many rows/],
      [{ inputs: [[1, 2]] }, /inputs\[0\]/],
      [{ inputs: [] }, /inputs is empty: send at least one row/],
      [{ inputs: { input: [] } }, /inputs is empty: send at least one row/],
    ];
    for (const [body, message] of cases) {
      const r = await call('POST', '/v1/models/iris:predict', body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.json.error, message);
    }
  });
});

describe('a version that failed to load', () => {
  it('is END with its short reason in the TF Serving status; admin load says UNAVAILABLE with no default version', async () => {
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', A, 'classification'));
    registry.corruptArtifact('iris', 1);
    const broken = await buildApp({ registry, env: {}, providers: ['cpu'], adminToken: 't', refreshIntervalMs: 0 });
    try {
      await broken.ready();
      const status = await broken.inject({ method: 'GET', url: '/v1/models/iris' });
      assert.deepEqual(status.json(), {
        model_version_status: [
          { version: '1', state: 'END', status: { error_code: 'FAILED_PRECONDITION', error_message: 'sha256 mismatch' } },
        ],
      });
      const load = await broken.inject({ method: 'POST', url: '/v2/repository/models/iris/load', headers: { authorization: 'Bearer t' } });
      assert.equal(load.statusCode, 200);
      assert.deepEqual([load.json().state, load.json().default_version], ['UNAVAILABLE', null]);
    } finally {
      await broken.close();
    }
  });
});
