import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import {
  FEATURES,
  IRIS_ROWS,
  cudaLibraryPresent,
  maxAbsDiff,
  mlpReference,
  pairVersionInput,
  randomMlp,
  versionInput,
} from './fixtures.ts';

const A = randomMlp(1);
const B = randomMlp(2);
const HOUSE = randomMlp(3, 4, 5, 1);
const MAX_ROWS = 8;
const TOKEN = 'test-admin-token';
const noCuda = { skip: cudaLibraryPresent() ? 'the CUDA provider is installed here' : false };

async function makeRegistry() {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', A, 'classification'));
  await registry.registerVersion(versionInput('iris', B, 'classification'));
  await registry.promote('iris', 1, 'production');
  await registry.promote('iris', 2, 'staging');
  await registry.registerVersion(versionInput('house', HOUSE, 'regression'));
  await registry.registerVersion(pairVersionInput('pair', versionInput('pair', HOUSE, 'regression')));
  return registry;
}

type Json = Record<string, any>;

let app: FastifyInstance;
let registry: FakeRegistry;

async function post(url: string, payload: unknown, headers: Record<string, string> = {}) {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const r = await app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/json', ...headers } });
  return { status: r.statusCode, json: r.json() as Json, headers: r.headers };
}

async function get(url: string) {
  const r = await app.inject({ method: 'GET', url });
  return { status: r.statusCode, json: (String(r.headers['content-type']).includes('json') ? r.json() : {}) as Json, text: r.body };
}

before(async () => {
  registry = await makeRegistry();
  app = await buildApp({
    registry,
    env: {},
    providers: ['cuda', 'cpu'],
    adminToken: TOKEN,
    limits: { maxRows: MAX_ROWS, bodyLimit: 16 * 1024 },
    refreshIntervalMs: 0,
  });
  await app.ready();
});

after(async () => {
  await app.close();
});

describe(':predict', () => {
  it('answers with the ONNX model output (≤ 1e-5 from the JS reference) and arg-max labels', async () => {
    const r = await post('/v1/models/iris:predict', { instances: IRIS_ROWS });
    assert.equal(r.status, 200);
    assert.equal(r.json.model_version, 1);
    const expected = mlpReference(A, 'classification', IRIS_ROWS);
    r.json.predictions.forEach((p: Json, i: number) => {
      const probs = ['setosa', 'versicolor', 'virginica'].map((l) => p.probabilities[l]);
      assert.ok(maxAbsDiff(probs, expected[i]) <= 1e-5, `row ${i}: ${probs} vs ${expected[i]}`);
      assert.equal(p.label, ['setosa', 'versicolor', 'virginica'][expected[i].indexOf(Math.max(...expected[i]))]);
    });
  });

  it('gives a single row the same answer as that row inside a batch', async () => {
    const batch = await post('/v1/models/iris:predict', { instances: IRIS_ROWS });
    for (let i = 0; i < IRIS_ROWS.length; i++) {
      const single = await post('/v1/models/iris:predict', { instances: [IRIS_ROWS[i]] });
      const a = Object.values(single.json.predictions[0].probabilities) as number[];
      const b = Object.values(batch.json.predictions[i].probabilities) as number[];
      assert.ok(maxAbsDiff(a, b) <= 1e-6, `row ${i}: ${a} vs ${b}`);
      assert.equal(single.json.predictions[0].label, batch.json.predictions[i].label);
    }
  });

  it('takes rows as objects keyed by feature name, in any key order', async () => {
    const objects = IRIS_ROWS.map((row) => Object.fromEntries(FEATURES.map((f, j) => [f, row[j]]).reverse()));
    const byName = await post('/v1/models/iris:predict', { instances: objects });
    const byPosition = await post('/v1/models/iris:predict', { instances: IRIS_ROWS });
    assert.equal(byName.status, 200);
    assert.deepEqual(byName.json, byPosition.json);
  });

  it('serves by version number and by alias', async () => {
    const v2 = await post('/v1/models/iris/versions/2:predict', { instances: IRIS_ROWS.slice(0, 2) });
    assert.equal(v2.json.model_version, 2);
    const expected = mlpReference(B, 'classification', IRIS_ROWS.slice(0, 2));
    assert.ok(maxAbsDiff(Object.values(v2.json.predictions[1].probabilities) as number[], expected[1]) <= 1e-5);
    assert.equal((await post('/v1/models/iris/labels/staging:predict', { instances: [IRIS_ROWS[0]] })).json.model_version, 2);
    assert.equal((await post('/v1/models/iris/labels/production:predict', { instances: [IRIS_ROWS[0]] })).json.model_version, 1);
  });

  it('answers regression models with {prediction}', async () => {
    const r = await post('/v1/models/house:predict', { instances: IRIS_ROWS });
    assert.equal(r.status, 200);
    const expected = mlpReference(HOUSE, 'regression', IRIS_ROWS).map((row) => row[0]);
    assert.ok(
      maxAbsDiff(
        r.json.predictions.map((p: Json) => p.prediction),
        expected,
      ) <= 1e-5,
    );
  });

  it('accepts a JSON body sent without a JSON content type (curl -d)', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v1/models/iris:predict',
      payload: JSON.stringify({ instances: [IRIS_ROWS[0]] }),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(r.statusCode, 200);
  });
});

describe('Open Inference Protocol v2', () => {
  it('infers with FP32 data, echoes the id, and matches the reference', async () => {
    const r = await post('/v2/models/iris/infer', {
      id: 'req-42',
      inputs: [{ name: 'input', shape: [IRIS_ROWS.length, 4], datatype: 'FP32', data: IRIS_ROWS.flat() }],
    });
    assert.equal(r.status, 200);
    assert.equal(r.json.id, 'req-42');
    assert.equal(r.json.model_name, 'iris');
    assert.equal(r.json.model_version, '1');
    const [out] = r.json.outputs;
    assert.equal(out.name, 'probabilities');
    assert.equal(out.datatype, 'FP32');
    assert.deepEqual(out.shape, [IRIS_ROWS.length, 3]);
    assert.ok(maxAbsDiff(out.data, mlpReference(A, 'classification', IRIS_ROWS).flat()) <= 1e-5);
  });

  it('accepts FP64, INT64 and nested data with the same meaning', async () => {
    const rows = [
      [5, 3, 1, 0],
      [7, 3, 5, 1],
    ];
    const ask = (datatype: string, data: unknown) =>
      post('/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [2, 4], datatype, data }] });
    const fp32 = await ask('FP32', rows.flat());
    for (const r of [await ask('FP64', rows.flat()), await ask('INT64', rows.flat()), await ask('FP32', rows)]) {
      assert.equal(r.status, 200);
      assert.deepEqual(r.json.outputs, fp32.json.outputs);
    }
    assert.equal('id' in fp32.json, false, 'no id in, no id out');
  });

  it('runs the KServe iris v2 example body unchanged (input named "input-0", nested data)', async () => {
    // From KServe's sklearn/iris v2 examples (iris-input-v2.json).
    const body = `{
      "inputs": [
        {
          "name": "input-0",
          "shape": [2, 4],
          "datatype": "FP32",
          "data": [
            [6.8, 2.8, 4.8, 1.4],
            [6.0, 3.4, 4.5, 1.6]
          ]
        }
      ]
    }`;
    const r = await post('/v2/models/iris/infer', body);
    assert.equal(r.status, 200);
    assert.deepEqual(r.json.outputs[0].shape, [2, 3]);
    assert.ok(
      maxAbsDiff(
        r.json.outputs[0].data,
        mlpReference(A, 'classification', [
          [6.8, 2.8, 4.8, 1.4],
          [6.0, 3.4, 4.5, 1.6],
        ]).flat(),
      ) <= 1e-5,
    );
  });

  it('answers the protocol specification example (UINT32 + BOOL inputs) with a clear 400', async () => {
    // Verbatim from the Open Inference Protocol REST spec, "Inference Request Examples".
    const body = `{
      "id" : "42",
      "inputs" : [
        {
          "name" : "input0",
          "shape" : [ 2, 2 ],
          "datatype" : "UINT32",
          "data" : [ 1, 2, 3, 4 ]
        },
        {
          "name" : "input1",
          "shape" : [ 3 ],
          "datatype" : "BOOL",
          "data" : [ true ]
        }
      ],
      "outputs" : [
        {
          "name" : "output0"
        }
      ]
    }`;
    const r = await post('/v2/models/iris/infer', body);
    assert.equal(r.status, 400);
    assert.match(r.json.error, /inputs\[0\]\.datatype: .*expected one of "FP32"\|"FP64"\|"INT32"\|"INT64"/);
  });

  it('returns only the requested outputs and rejects unknown ones', async () => {
    const input = [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }];
    const ok = await post('/v2/models/iris/infer', { inputs: input, outputs: [{ name: 'probabilities' }] });
    assert.deepEqual(
      ok.json.outputs.map((o: Json) => o.name),
      ['probabilities'],
    );
    const bad = await post('/v2/models/iris/infer', { inputs: input, outputs: [{ name: 'logits' }] });
    assert.equal(bad.status, 400);
    assert.match(bad.json.error, /unknown output "logits" \(model outputs: probabilities\)/);
  });

  it('serves a version by number', async () => {
    const r = await post('/v2/models/iris/versions/2/infer', {
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }],
    });
    assert.equal(r.json.model_version, '2');
    assert.ok(maxAbsDiff(r.json.outputs[0].data, mlpReference(B, 'classification', [IRIS_ROWS[0]])[0]) <= 1e-5);
  });

  it('binds several inputs by name', async () => {
    const ok = await post('/v2/models/pair/infer', {
      inputs: [
        { name: 'b', shape: [1, 2], datatype: 'FP32', data: [10, 20] },
        { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
      ],
    });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json.outputs[0].data, [11, 22]);
    const missing = await post('/v2/models/pair/infer', { inputs: [{ name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] });
    assert.equal(missing.status, 400);
    assert.match(missing.json.error, /missing input "b"/);
    const unknown = await post('/v2/models/pair/infer', {
      inputs: [
        { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        { name: 'c', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
      ],
    });
    assert.equal(unknown.status, 400);
    assert.match(unknown.json.error, /unknown input "c" \(model inputs: a, b\)/);
    const wrongWidth = await post('/v2/models/pair/infer', {
      inputs: [
        { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
        { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] },
      ],
    });
    assert.equal(wrongWidth.status, 400);
    assert.match(wrongWidth.json.error, /inputs\[1\]\.shape: dimension 1 is 3, input "b" takes \[batch, 2\]/);
    const predict = await post('/v1/models/pair:predict', { instances: [[1, 2]] });
    assert.equal(predict.status, 400);
    assert.match(predict.json.error, /use POST \/v2\/models\/pair\/infer/);
    const columnar = await post('/v1/models/pair:predict', { inputs: [[1, 2]] });
    assert.equal(columnar.status, 400);
    assert.match(columnar.json.error, /use POST \/v2\/models\/pair\/infer/);
  });

  it('describes models, including the execution provider really used', noCuda, async () => {
    const meta = await get('/v2/models/iris');
    assert.equal(meta.status, 200);
    assert.equal(meta.json.execution_provider, 'CPUExecutionProvider');
    assert.equal(meta.json.version, '1');
    assert.equal(meta.json.platform, 'onnxruntime_onnx');
    assert.deepEqual(meta.json.inputs, [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }]);
    assert.deepEqual(meta.json.outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }]);
    assert.deepEqual(meta.json.labels, ['setosa', 'versicolor', 'virginica']);
    assert.deepEqual(meta.json.aliases, { production: 1, staging: 2 });
    assert.equal((await get('/v2/models/iris/versions/2')).json.version, '2');
  });

  it('reports health, readiness and server metadata', async () => {
    assert.deepEqual((await get('/v2/health/live')).json, { live: true });
    assert.deepEqual((await get('/v2/health/ready')).json, { ready: true });
    assert.deepEqual((await get('/v2/models/iris/ready')).json, { name: 'iris', version: '1', ready: true });
    assert.equal((await get('/v2/models/iris/versions/2/ready')).status, 200);
    assert.equal((await get('/v2/models/iris/versions/9/ready')).status, 404);
    assert.equal((await get('/v2')).json.name, 'bnserve');
  });
});

describe('bad input never gets a 5xx', () => {
  const row = IRIS_ROWS[0];
  const v2 = (input: Json) => ({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row, ...input }] });
  const cases: { name: string; url: string; body: unknown; status: number; error: RegExp; headers?: Record<string, string> }[] = [
    { name: 'malformed JSON', url: '/v1/models/iris:predict', body: '{"instances": [[5.1, 3.5', status: 400, error: /not valid JSON/ },
    {
      name: 'NaN literal (not JSON)',
      url: '/v1/models/iris:predict',
      body: '{"instances": [[NaN, 3.5, 1.4, 0.2]]}',
      status: 400,
      error: /not valid JSON/,
    },
    {
      name: 'Infinity via 1e999',
      url: '/v1/models/iris:predict',
      body: '{"instances": [[1e999, 3.5, 1.4, 0.2]]}',
      status: 400,
      error: /instances\[0\]\[0\]: expected a finite number, got Infinity/,
    },
    {
      name: 'a string value',
      url: '/v1/models/iris:predict',
      body: { instances: [[5.1, '3.5', 1.4, 0.2]] },
      status: 400,
      error: /instances\[0\]\[1\]: expected a number, got string "3.5"/,
    },
    {
      name: 'a short row',
      url: '/v1/models/iris:predict',
      body: { instances: [row, [5.1, 3.5, 1.4]] },
      status: 400,
      error: /instances\[1\]: has 3 values but shape \[4\] needs 4/,
    },
    {
      name: 'a long row',
      url: '/v1/models/iris:predict',
      body: { instances: [[...row, 1]] },
      status: 400,
      error: /instances\[0\]: has 5 values/,
    },
    {
      name: 'a value beyond float32',
      url: '/v1/models/iris:predict',
      body: { instances: [[1e300, 1, 1, 1]] },
      status: 400,
      error: /outside the float32 range/,
    },
    { name: 'empty instances', url: '/v1/models/iris:predict', body: { instances: [] }, status: 400, error: /instances is empty/ },
    { name: 'an empty row', url: '/v1/models/iris:predict', body: { instances: [[]] }, status: 400, error: /instances\[0\]: is empty/ },
    {
      name: 'a scalar row',
      url: '/v1/models/iris:predict',
      body: { instances: [5.1] },
      status: 400,
      error: /each instance must be an array of numbers or an object/,
    },
    {
      name: 'missing instances',
      url: '/v1/models/iris:predict',
      body: { rows: [row] },
      status: 400,
      error: /body\.instances: instances is required/,
    },
    { name: 'a JSON array body', url: '/v1/models/iris:predict', body: [row], status: 400, error: /body: .*expected object/ },
    {
      name: 'too many rows',
      url: '/v1/models/iris:predict',
      body: { instances: Array(MAX_ROWS + 1).fill(row) },
      status: 400,
      error: /too many rows: at most 8/,
    },
    {
      name: 'an unknown feature name',
      url: '/v1/models/iris:predict',
      body: { instances: [{ sepal_length: 1, sepal_width: 1, petal_length: 1, petal_width: 1, colour: 2 }] },
      status: 400,
      error: /unknown feature "colour"/,
    },
    {
      name: 'a missing feature',
      url: '/v1/models/iris:predict',
      body: { instances: [{ sepal_length: 1 }] },
      status: 400,
      error: /missing feature "sepal_width"/,
    },
    {
      name: 'an unknown model',
      url: '/v1/models/tulip:predict',
      body: { instances: [row] },
      status: 404,
      error: /model "tulip" not found/,
    },
    {
      name: 'an unknown version',
      url: '/v1/models/iris/versions/9:predict',
      body: { instances: [row] },
      status: 404,
      error: /model "iris" has no version 9/,
    },
    {
      name: 'a non-numeric version',
      url: '/v1/models/iris/versions/latest:predict',
      body: { instances: [row] },
      status: 400,
      error: /version must be a positive integer/,
    },
    {
      name: 'an unknown alias',
      url: '/v1/models/iris/labels/canary:predict',
      body: { instances: [row] },
      status: 404,
      error: /no alias "canary"/,
    },
    { name: 'an empty JSON body', url: '/v1/models/iris:predict', body: '', status: 400, error: /request body is empty/ },
    {
      name: 'an oversized body',
      url: '/v1/models/iris:predict',
      body: { instances: [row], padding: 'x'.repeat(20 * 1024) },
      status: 413,
      error: /request body is larger than the limit of 16384 bytes/,
    },
    {
      name: 'v2: data shorter than the shape',
      url: '/v2/models/iris/infer',
      body: v2({ data: [1, 2, 3] }),
      status: 400,
      error: /inputs\[0\]\.data: has 3 values but shape \[1, 4\] needs 4/,
    },
    {
      name: 'v2: wrong feature count',
      url: '/v2/models/iris/infer',
      body: v2({ shape: [1, 3], data: [1, 2, 3] }),
      status: 400,
      error: /inputs\[0\]\.shape: dimension 1 is 3, input "input" takes \[batch, 4\]/,
    },
    {
      name: 'v2: wrong rank',
      url: '/v2/models/iris/infer',
      body: v2({ shape: [4] }),
      status: 400,
      error: /has 1 dimensions, input "input" takes \[batch, 4\]/,
    },
    {
      name: 'v2: a string in data',
      url: '/v2/models/iris/infer',
      body: v2({ data: [1, 2, 'x', 4] }),
      status: 400,
      error: /inputs\[0\]\.data\[2\]: expected a number, got string/,
    },
    {
      name: 'v2: a fraction in INT64 data',
      url: '/v2/models/iris/infer',
      body: v2({ datatype: 'INT64', data: [1, 2, 3.5, 4] }),
      status: 400,
      error: /expected an integer, got 3.5/,
    },
    {
      name: 'v2: BYTES datatype',
      url: '/v2/models/iris/infer',
      body: v2({ datatype: 'BYTES' }),
      status: 400,
      error: /datatype: .*expected one of/,
    },
    {
      name: 'v2: a zero batch',
      url: '/v2/models/iris/infer',
      body: v2({ shape: [0, 4] }),
      status: 400,
      error: /first \(batch\) dimension must be at least 1/,
    },
    {
      name: 'v2: too many rows',
      url: '/v2/models/iris/infer',
      body: v2({ shape: [MAX_ROWS + 1, 4] }),
      status: 400,
      error: /limited to 8 rows/,
    },
    { name: 'v2: a negative dimension', url: '/v2/models/iris/infer', body: v2({ shape: [1, -4] }), status: 400, error: /shape\[1\]/ },
    { name: 'v2: no inputs', url: '/v2/models/iris/infer', body: { id: '1' }, status: 400, error: /body\.inputs: inputs is required/ },
    { name: 'v2: empty inputs', url: '/v2/models/iris/infer', body: { inputs: [] }, status: 400, error: /inputs is empty/ },
    { name: 'v2: empty data', url: '/v2/models/iris/infer', body: v2({ data: [] }), status: 400, error: /data is empty/ },
    {
      name: 'v2: Infinity',
      url: '/v2/models/iris/infer',
      body: '{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,-1e999]}]}',
      status: 400,
      error: /data\[3\]: expected a finite number, got -Infinity/,
    },
    { name: 'v2: an unknown model', url: '/v2/models/tulip/infer', body: v2({}), status: 404, error: /model "tulip" not found/ },
    { name: 'v2: an unknown version', url: '/v2/models/iris/versions/12/infer', body: v2({}), status: 404, error: /no version 12/ },
    { name: 'an unknown route', url: '/v3/whatever', body: {}, status: 404, error: /no route for POST \/v3\/whatever/ },
    {
      name: 'malformed percent-encoding (:predict)',
      url: '/v1/models/%E0%A4%A:predict',
      body: { instances: [row] },
      status: 400,
      error: /malformed URL "\/v1\/models\/%E0%A4%A:predict": every "%" must start a percent-encoded UTF-8 sequence/,
    },
    {
      name: 'malformed percent-encoding (v2 infer)',
      url: '/v2/models/iris/versions/%E0%A4%A/infer',
      body: v2({}),
      status: 400,
      error: /malformed URL/,
    },
    {
      name: 'an over-long path segment',
      url: `/v2/models/${'m'.repeat(300)}/infer`,
      body: v2({}),
      status: 414,
      error: /has a path segment that is too long/,
    },
    {
      name: 'a model name the registry would refuse (@)',
      url: '/v1/models/a@b:predict',
      body: { instances: [row] },
      status: 400,
      error: /params\.model: invalid model name "a@b"/,
    },
    {
      name: 'a model name over 64 characters',
      url: `/v2/models/${'m'.repeat(65)}/infer`,
      body: v2({}),
      status: 400,
      error: /params\.model: invalid model name/,
    },
    {
      name: 'a model name starting with a symbol',
      url: '/v2/models/.hidden/infer',
      body: v2({}),
      status: 400,
      error: /params\.model: invalid model name "\.hidden"/,
    },
    {
      name: 'a valid but unknown 64-character name',
      url: `/v2/models/${'m'.repeat(64)}/infer`,
      body: v2({}),
      status: 404,
      error: /not found/,
    },
    {
      name: 'an alias that starts with a digit',
      url: '/v1/models/iris/labels/2nd:predict',
      body: { instances: [row] },
      status: 400,
      error: /params\.alias: invalid alias "2nd"/,
    },
  ];

  for (const c of cases) {
    it(`${c.name} → ${c.status}`, async () => {
      const r = await post(c.url, c.body, c.headers);
      assert.equal(r.status, c.status, JSON.stringify(r.json));
      assert.deepEqual(Object.keys(r.json), ['error'], 'every 4xx body is {"error": message}');
      assert.equal(typeof r.json.error, 'string');
      assert.match(r.json.error, c.error);
    });
  }

  it('unknown model metadata and readiness → 404', async () => {
    assert.equal((await get('/v2/models/tulip')).status, 404);
    assert.equal((await get('/v2/models/tulip/ready')).status, 404);
  });

  it('GET with a malformed URL or an invalid name → 4xx with an {"error"} body only', async () => {
    for (const [url, status] of [
      ['/v2/models/%E0%A4%A', 400],
      ['/v2/models/%E0%A4%A/ready', 400],
      ['/v1/models/%E0%A4%A:predict', 400],
      ['/v2/models/a@b', 400],
      ['/v2/models/a@b/ready', 400],
      [`/v2/models/${'m'.repeat(300)}`, 414],
    ] as const) {
      const r = await get(url);
      assert.equal(r.status, status, url);
      assert.deepEqual(Object.keys(r.json), ['error'], `${url}: ${r.text}`);
      assert.equal(typeof r.json.error, 'string');
    }
    const echoed = await app.inject({ method: 'GET', url: '/v2/models/%E0%A4%A', headers: { 'x-request-id': 'bad-url-1' } });
    assert.equal(echoed.headers['x-request-id'], 'bad-url-1', 'the request id is echoed before routing too');
  });
});

describe('messages name the field and quote user text briefly', () => {
  const row = IRIS_ROWS[0];
  const binaryInfer = (header: object, bytes: Buffer, headerLength?: number) => {
    const json = Buffer.from(JSON.stringify(header));
    return app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: Buffer.concat([json, bytes]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength ?? json.length) },
    });
  };
  const binaryInput = (size: number) => ({
    inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: size } }],
  });

  it('a binary size that does not match the shape names inputs[0].parameters.binary_data_size', async () => {
    const r = await binaryInfer(binaryInput(12), Buffer.alloc(12));
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json().error, /^inputs\[0\]\.parameters\.binary_data_size: 12 bytes, but shape \[1, 4\] of FP32 needs 16/);
  });

  it('a header length that cuts the JSON short says which header to check', async () => {
    const full = Buffer.from(JSON.stringify(binaryInput(16))).length;
    const r = await binaryInfer(binaryInput(16), Buffer.from(Float32Array.from(row).buffer), full - 5);
    assert.equal(r.statusCode, 400, r.body);
    assert.match(
      r.json().error,
      new RegExp(
        `^the JSON header of ${full - 5} bytes \\(from Inference-Header-Content-Length\\) is not valid JSON: .*count exactly the bytes`,
      ),
    );
  });

  it('binary_data_output and binary_data follow one rule: a JSON boolean, else a 400 naming the field', async () => {
    const infer = (extra: object) =>
      post('/v2/models/iris/infer', { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row }], ...extra });
    const request = await infer({ parameters: { binary_data_output: 'true' } });
    assert.equal(request.status, 400);
    assert.equal(request.json.error, 'parameters.binary_data_output: expected true or false, got string "true"');
    const output = await infer({ outputs: [{ name: 'probabilities', parameters: { binary_data: 'yes' } }] });
    assert.equal(output.status, 400);
    assert.equal(output.json.error, 'outputs[0].parameters.binary_data: expected true or false, got string "yes"');
    const off = await infer({ parameters: { binary_data_output: false } });
    assert.equal(off.status, 200);
    assert.ok(Array.isArray(off.json.outputs[0].data), 'false: JSON outputs');
  });

  it('a null body where an object is required says it must be a JSON object', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/admin/models/house/batching',
      payload: 'null',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(r.statusCode, 400);
    assert.equal(r.json().error, 'the request body is null: it must be a JSON object');
  });

  it('a long unknown output name or feature key is quoted cut short, with its length', async () => {
    const name = 'o'.repeat(10_000);
    const output = await post('/v2/models/iris/infer', {
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row }],
      outputs: [{ name }],
    });
    assert.equal(output.status, 400);
    assert.equal(output.json.error, `unknown output "${'o'.repeat(64)}…(10000 chars)" (model outputs: probabilities)`);
    const feature = await post('/v1/models/iris:predict', { instances: [{ [name]: 1 }] });
    assert.equal(feature.status, 400);
    assert.match(feature.json.error, /^instances\[0\]: unknown feature "o{64}…\(10000 chars\)" \(expected /);
  });
});

describe('admin routes', () => {
  const auth = { authorization: `Bearer ${TOKEN}` };

  it('need the bearer token', async () => {
    const none = await post('/v2/repository/index', {});
    assert.equal(none.status, 401);
    assert.match(none.json.error, /missing or wrong admin token/);
    assert.equal(none.headers['www-authenticate'], 'Bearer');
    assert.equal((await post('/v2/repository/index', {}, { authorization: 'Bearer nope' })).status, 401);
  });

  it('list the repository like Triton', async () => {
    const r = await post('/v2/repository/index', {}, auth);
    assert.equal(r.status, 200);
    const iris = r.json.filter((e: Json) => e.name === 'iris');
    assert.deepEqual(
      iris.map((e: Json) => [e.version, e.state]),
      [
        ['1', 'READY'],
        ['2', 'READY'],
      ],
    );
  });

  it('promote, unload and load', async () => {
    const bad = await post('/admin/models/iris/promote', { version: 'two' }, auth);
    assert.equal(bad.status, 400);
    assert.equal((await post('/admin/models/iris/promote', { version: 5 }, auth)).status, 404);

    const promoted = await post('/admin/models/house/promote', { version: 1, alias: 'production' }, auth);
    assert.equal(promoted.status, 200);
    assert.deepEqual(promoted.json.previous_version, null);
    assert.equal((await registry.getVersion('house', 'production'))?.version, 1);

    const unloaded = await post('/v2/repository/models/house/unload', {}, auth);
    assert.equal(unloaded.json.state, 'UNAVAILABLE');
    assert.equal((await post('/v1/models/house:predict', { instances: [IRIS_ROWS[0]] })).status, 404);
    const loaded = await post('/v2/repository/models/house/load', {}, auth);
    assert.equal(loaded.json.state, 'READY');
    assert.deepEqual(
      loaded.json.loaded_versions.map((v: Json) => v.version),
      [1],
    );
    assert.equal((await post('/v1/models/house:predict', { instances: [IRIS_ROWS[0]] })).status, 200);
    assert.equal((await post('/v2/repository/models/tulip/load', {}, auth)).status, 404);
  });

  it("set a model's batching at run time, and the scheduler follows it", async () => {
    const put = async (url: string, body: unknown, headers: Record<string, string> = auth) => {
      const r = await app.inject({
        method: 'PUT',
        url,
        payload: JSON.stringify(body),
        headers: { 'content-type': 'application/json', ...headers },
      });
      return { status: r.statusCode, json: r.json() as Json };
    };
    assert.equal((await put('/admin/models/house/batching', { maxBatchSize: 4 }, {})).status, 401);
    assert.equal((await put('/admin/models/tulip/batching', { maxBatchSize: 4 })).status, 404);
    const bad = await put('/admin/models/house/batching', { maxBatchSize: 0, colour: 'red' });
    assert.equal(bad.status, 400);

    const set = await put('/admin/models/house/batching', { maxQueueDelayMicroseconds: 2_000_000, preferredBatchSizes: [3] });
    assert.equal(set.status, 200);
    assert.deepEqual(set.json.override, { maxQueueDelayMicroseconds: 2_000_000, preferredBatchSizes: [3] });
    assert.equal(set.json.effective.maxQueueDelayMicroseconds, 2_000_000);
    assert.equal(set.json.effective.maxQueueSize, 1024, 'the rest stays at the server-wide defaults');

    // Three single-row requests wait for company (up to 2 s) and leave as one batch of the preferred size 3.
    const stats = async () => (await get('/v2/models/house/versions/1/stats')).json.model_stats[0];
    const before = await stats();
    const answers = await Promise.all([0, 1, 2].map((i) => post('/v1/models/house/versions/1:predict', { instances: [IRIS_ROWS[i]] })));
    assert.deepEqual(
      answers.map((a) => a.status),
      [200, 200, 200],
    );
    const after = await stats();
    assert.equal(after.inference_count - before.inference_count, 3);
    assert.equal(after.execution_count - before.execution_count, 1, 'one onnxruntime run answered all three');

    const reset = await app.inject({ method: 'GET', url: '/admin/models/house/batching', headers: auth });
    assert.equal(reset.json().effective.maxQueueDelayMicroseconds, 2_000_000);
    const cleared = await put('/admin/models/house/batching', {});
    assert.deepEqual(cleared.json.override, {});
    assert.equal(cleared.json.effective.maxQueueDelayMicroseconds, 0);
  });

  it('are disabled, with a clear 403, when no token is configured', async () => {
    const bare = await buildApp({ registry, env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
    try {
      const r = await bare.inject({ method: 'POST', url: '/v2/repository/index', headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.statusCode, 403);
      assert.match(r.json().error, /admin routes are disabled: set BNSERVE_ADMIN_TOKEN/);
    } finally {
      await bare.close();
    }
  });
});

describe('operations', () => {
  it('exposes Prometheus metrics with requests, latencies and the execution provider', noCuda, async () => {
    await post('/v1/models/iris:predict', { instances: [IRIS_ROWS[0]] });
    const { text } = await get('/metrics');
    assert.match(text, /bnserve_requests_total\{route="\/v1\/models\/:model:predict",model="iris",version="1",status="200"\} \d+/);
    assert.match(text, /bnserve_requests_total\{route="\/v1\/models\/:model:predict",model="",version="",status="404"\} \d+/);
    assert.match(text, /bnserve_compute_duration_seconds_count\{model="iris",version="1"\} \d+/);
    assert.match(text, /bnserve_queue_duration_seconds_bucket/);
    assert.match(text, /bnserve_request_duration_seconds_bucket/);
    assert.match(text, /bnserve_execution_provider_info\{model="iris",version="1",provider="CPUExecutionProvider"\} 1/);
    assert.match(text, /bnserve_execution_provider_unavailable\{provider="cuda"\} 1/);
    assert.match(text, /bnserve_models_loaded \d+/);
  });

  it('echoes or assigns a request id', async () => {
    const given = await app.inject({ method: 'GET', url: '/v2/health/live', headers: { 'x-request-id': 'abc-123' } });
    assert.equal(given.headers['x-request-id'], 'abc-123');
    const made = await app.inject({ method: 'GET', url: '/v2/health/live' });
    assert.match(String(made.headers['x-request-id']), /^[0-9a-f-]{36}$/);
  });

  it('publishes OpenAPI built from the route schemas', async () => {
    const spec = (await get('/docs/json')).json;
    assert.ok(spec.paths['/v1/models/{model}:predict']);
    assert.ok(spec.paths['/v2/models/{model}/infer'].post.requestBody);
    assert.equal((await get('/docs')).status, 200);
  });
});
