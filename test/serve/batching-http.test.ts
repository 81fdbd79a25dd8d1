// Batching, queue limits and the binary tensor extension, through HTTP (inject and a real socket).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { deepMlpVersionInput, IRIS_ROWS, pairVersionInput, randomMlp, versionInput } from './fixtures.ts';

const IRIS = randomMlp(5);
const WIDE = [64, 32, 32, 10];

async function registry() {
  const r = new FakeRegistry();
  await r.registerVersion(versionInput('iris', IRIS, 'classification'));
  await r.registerVersion(deepMlpVersionInput('wide', 9, WIDE));
  await r.registerVersion(pairVersionInput('pair', versionInput('pair', randomMlp(3, 4, 5, 1), 'regression')));
  return r;
}

/** Distinct, deterministic rows: request i, row j. */
function rowsFor(i: number, n: number, width: number): number[][] {
  return Array.from({ length: n }, (_, j) =>
    Array.from({ length: width }, (_, k) => Math.fround(Math.sin(i * 7.3 + j * 1.9 + k * 0.37) * 3)),
  );
}

/** Splits an OIP binary response into its JSON header and Float32 outputs. */
function readBinaryResponse(body: Buffer, headerLength: number) {
  const header = JSON.parse(body.toString('utf8', 0, headerLength));
  let offset = headerLength;
  const data: Record<string, number[]> = {};
  for (const o of header.outputs) {
    if (o.parameters?.binary_data_size === undefined) continue;
    const size = o.parameters.binary_data_size;
    const bytes = body.subarray(offset, offset + size);
    data[o.name] = Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + size)));
    offset += size;
  }
  assert.equal(offset, body.length, 'every byte belongs to an output');
  return { header, data };
}

function binaryRequest(header: object, ...tensors: Float32Array[]) {
  const json = Buffer.from(JSON.stringify(header));
  const payload = Buffer.concat([json, ...tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))]);
  return { payload, headerLength: json.length };
}

describe('batched answers', () => {
  let app: FastifyInstance;
  let unbatched: FastifyInstance;
  before(async () => {
    const batching = { maxBatchSize: 64, maxQueueDelayMicroseconds: 2000, maxQueueSize: 10_000 };
    app = await buildApp({ registry: await registry(), env: {}, providers: ['cpu'], refreshIntervalMs: 0, batching });
    unbatched = await buildApp({
      registry: await registry(),
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      batching: { enabled: false },
    });
    await Promise.all([app.ready(), unbatched.ready()]);
  });
  after(async () => {
    await Promise.all([app.close(), unbatched.close()]);
  });

  it('equal unbatched answers exactly, each to its own request, under many concurrent requests of different sizes', async () => {
    const requests = Array.from({ length: 120 }, (_, i) => rowsFor(i, 1 + (i % 5), WIDE[0]));
    const ask = (server: FastifyInstance, rows: number[][], i: number) =>
      i % 2 === 0
        ? server.inject({ method: 'POST', url: '/v1/models/wide:predict', payload: { instances: rows } })
        : server.inject({
            method: 'POST',
            url: '/v2/models/wide/infer',
            payload: { id: `r${i}`, inputs: [{ name: 'input', shape: [rows.length, WIDE[0]], datatype: 'FP32', data: rows.flat() }] },
          });
    const batched = await Promise.all(requests.map((rows, i) => ask(app, rows, i)));
    const alone: string[] = [];
    for (let i = 0; i < requests.length; i++) alone.push((await ask(unbatched, requests[i], i)).body);
    batched.forEach((r, i) => {
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.body, alone[i], `request ${i} got the same bytes as when it ran alone`);
    });
    const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    const merged = /bnserve_batch_requests_bucket\{le="1",model="wide",version="1"\} (\d+)/.exec(metrics);
    const runs = /bnserve_batch_requests_count\{model="wide",version="1"\} (\d+)/.exec(metrics);
    assert.ok(merged && runs && Number(runs[1]) > Number(merged[1]), `some runs merged several requests:\n${merged?.[0]}\n${runs?.[0]}`);
  });

  it('merges multi-input models too (every tensor batched), each answer to its own request', async () => {
    const results = await Promise.all(
      Array.from({ length: 40 }, (_, i) => {
        const rows = 1 + (i % 3);
        const a = Array.from({ length: rows * 2 }, (_, k) => i * 100 + k);
        const b = Array.from({ length: rows * 2 }, (_, k) => -k / 2);
        return app
          .inject({
            method: 'POST',
            url: '/v2/models/pair/infer',
            payload: {
              inputs: [
                { name: 'b', shape: [rows, 2], datatype: 'FP32', data: b },
                { name: 'a', shape: [rows, 2], datatype: 'FP32', data: a },
              ],
            },
          })
          .then((r) => ({ r, expected: a.map((x, k) => Math.fround(x + b[k])) }));
      }),
    );
    for (const { r, expected } of results) {
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json().outputs[0].data, expected);
    }
  });

  it('rejects multi-input requests whose batch dimensions disagree with a 400', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v2/models/pair/infer',
      payload: {
        inputs: [
          { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] },
          { name: 'b', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3, 4] },
        ],
      },
    });
    assert.equal(r.statusCode, 400);
    assert.match(r.json().error, /disagree on the batch dimension/);
  });
});

describe('binary tensor extension', () => {
  let app: FastifyInstance;
  before(async () => {
    app = await buildApp({ registry: await registry(), env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
    await app.ready();
  });
  after(async () => {
    await app.close();
  });

  const rows = rowsFor(3, 4, 4);
  const input = Float32Array.from(rows.flat());
  const jsonInfer = () =>
    app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: { inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP32', data: rows.flat() }] },
    });

  it('is listed in the server extensions', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2' });
    assert.ok(r.json().extensions.includes('binary_tensor_data'));
  });

  for (const [label, contentType] of [
    ['application/octet-stream', 'application/octet-stream'],
    ['no Content-Type (Triton sync client)', undefined],
    ['a JSON Content-Type with the header length', 'application/json'],
  ] as const) {
    it(`takes binary inputs sent with ${label} and answers exactly as JSON does`, async () => {
      const { payload, headerLength } = binaryRequest(
        { inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP32', parameters: { binary_data_size: 64 } }] },
        input,
      );
      const headers: Record<string, string> = { 'inference-header-content-length': String(headerLength) };
      if (contentType) headers['content-type'] = contentType;
      const r = await app.inject({ method: 'POST', url: '/v2/models/iris/infer', payload, headers });
      assert.equal(r.statusCode, 200, r.body);
      assert.match(String(r.headers['content-type']), /application\/json/, 'JSON outputs unless binary ones are asked for');
      assert.deepEqual(r.json(), (await jsonInfer()).json());
    });
  }

  it('answers binary outputs when asked (per output or binary_data_output), with the same values as JSON', async () => {
    const json = (await jsonInfer()).json();
    for (const ask of [
      { outputs: [{ name: 'probabilities', parameters: { binary_data: true } }] },
      { parameters: { binary_data_output: true } },
    ]) {
      const { payload, headerLength } = binaryRequest(
        { ...ask, inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP32', parameters: { binary_data_size: 64 } }] },
        input,
      );
      const r = await app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload,
        headers: { 'inference-header-content-length': String(headerLength) },
      });
      assert.equal(r.statusCode, 200, r.body);
      assert.equal(r.headers['content-type'], 'application/octet-stream');
      const { header, data } = readBinaryResponse(r.rawPayload, Number(r.headers['inference-header-content-length']));
      assert.deepEqual(header.outputs[0].shape, [4, 3]);
      assert.equal(header.outputs[0].parameters.binary_data_size, 48);
      assert.equal(header.outputs[0].data, undefined);
      assert.deepEqual(data.probabilities, json.outputs[0].data);
    }
  });

  it('answers binary outputs to a JSON request that asks for them', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: {
        parameters: { binary_data_output: true },
        inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP32', data: rows.flat() }],
      },
    });
    assert.equal(r.statusCode, 200);
    const { data } = readBinaryResponse(r.rawPayload, Number(r.headers['inference-header-content-length']));
    assert.deepEqual(data.probabilities, (await jsonInfer()).json().outputs[0].data);
  });

  const lies: [string, object, Buffer, string | undefined, RegExp][] = [
    [
      'a size that does not match the shape',
      { binary_data_size: 60 },
      Buffer.alloc(60),
      undefined,
      /60 bytes, but shape \[4, 4\] of FP32 needs 64/,
    ],
    ['a size larger than the body', { binary_data_size: 64 }, Buffer.alloc(32), undefined, /64 bytes declared, but only 32 bytes/],
    ['bytes left over after the inputs', { binary_data_size: 64 }, Buffer.alloc(72), undefined, /8 bytes of binary data after/],
    ['a header length beyond the body', { binary_data_size: 64 }, Buffer.alloc(64), '100000', /Inference-Header-Content-Length is 100000/],
    ['a header length that is not a number', { binary_data_size: 64 }, Buffer.alloc(64), 'abc', /must be a byte count/],
    ['a negative size', { binary_data_size: -4 }, Buffer.alloc(64), undefined, /binary_data_size: expected a byte count/],
  ];
  for (const [label, parameters, bytes, headerLengthOverride, message] of lies) {
    it(`answers 400 {"error"} to a binary body with ${label}`, async () => {
      const json = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP32', parameters }] }));
      const r = await app.inject({
        method: 'POST',
        url: '/v2/models/iris/infer',
        payload: Buffer.concat([json, bytes]),
        headers: {
          'content-type': 'application/octet-stream',
          'inference-header-content-length': headerLengthOverride ?? String(json.length),
        },
      });
      assert.equal(r.statusCode, 400, r.body);
      assert.deepEqual(Object.keys(r.json()), ['error']);
      assert.match(r.json().error, message);
    });
  }

  it('rejects NaN in binary FP32 data like JSON rejects a non-number', async () => {
    const bad = Float32Array.from(input);
    bad[5] = Number.NaN;
    const { payload, headerLength } = binaryRequest(
      { inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP32', parameters: { binary_data_size: 64 } }] },
      bad,
    );
    const r = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload,
      headers: { 'inference-header-content-length': String(headerLength) },
    });
    assert.equal(r.statusCode, 400);
    assert.match(r.json().error, /inputs\[0\]\.data\[5\]: expected a finite number, got NaN/);
  });

  it('applies the same schema validation to the JSON header as to a JSON body', async () => {
    const { payload, headerLength } = binaryRequest(
      { inputs: [{ name: 'input', shape: [4, 4], datatype: 'UINT8', parameters: { binary_data_size: 64 } }] },
      input,
    );
    const r = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload,
      headers: { 'inference-header-content-length': String(headerLength) },
    });
    assert.equal(r.statusCode, 400);
    assert.match(r.json().error, /inputs\[0\]\.datatype/);
  });

  it('converts binary FP64 into the float32 model like JSON FP64 data', async () => {
    const f64 = Float64Array.from(rows.flat());
    const json = Buffer.from(
      JSON.stringify({ inputs: [{ name: 'input', shape: [4, 4], datatype: 'FP64', parameters: { binary_data_size: 128 } }] }),
    );
    const r = await app.inject({
      method: 'POST',
      url: '/v2/models/iris/infer',
      payload: Buffer.concat([json, Buffer.from(f64.buffer)]),
      headers: { 'inference-header-content-length': String(json.length) },
    });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(r.json().outputs, (await jsonInfer()).json().outputs);
  });
});

describe('queue limits', () => {
  it('answers 503 with Retry-After when the queue is full, and serves every request it accepted', async () => {
    const app = await buildApp({
      registry: await registry(),
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      batching: { maxQueueSize: 2, maxBatchSize: 1 },
    });
    await app.ready();
    try {
      const body = { instances: [IRIS_ROWS[0]] };
      const results = await Promise.all(
        Array.from({ length: 12 }, () => app.inject({ method: 'POST', url: '/v1/models/iris:predict', payload: body })),
      );
      const codes = results.map((r) => r.statusCode);
      assert.ok(codes.includes(503), `some were turned away: ${codes}`);
      assert.ok(codes.filter((c) => c === 200).length >= 3, `one running and two queued were served: ${codes}`);
      assert.deepEqual([...new Set(codes)].sort(), [200, 503]);
      for (const r of results.filter((x) => x.statusCode === 503)) {
        assert.equal(r.headers['retry-after'], '1');
        assert.match(r.json().error, /queue of this model is full \(2 requests waiting\)/);
      }
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /bnserve_queue_rejections_total\{model="iris",version="1",reason="queue_full"\} [1-9]/);
      assert.match(metrics, /bnserve_inference_pending_request_count\{model="iris",version="1"\} 0/);
    } finally {
      await app.close();
    }
  });

  it('turns a request away while the queue is full before reading its body (503, not a 400 for the bad body)', async () => {
    const app = await buildApp({
      registry: await registry(),
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      batching: { maxQueueSize: 1, maxBatchSize: 64, maxQueueDelayMicroseconds: 1_000_000 },
    });
    await app.ready();
    try {
      // The first request waits in the queue for company (up to 1 s): the queue is full.
      const waiting = app.inject({ method: 'POST', url: '/v1/models/iris:predict', payload: { instances: [IRIS_ROWS[0]] } });
      while (app.models.peek('iris').queuedRequests < 1) await new Promise((r) => setImmediate(r));
      const shed = await Promise.all(
        ['/v1/models/iris:predict', '/v2/models/iris/infer', '/v2/models/iris/versions/1/infer'].map((url) =>
          app.inject({ method: 'POST', url, payload: 'not json', headers: { 'content-type': 'application/json' } }),
        ),
      );
      for (const r of shed) {
        assert.equal(r.statusCode, 503, r.body);
        assert.equal(r.headers['retry-after'], '1');
        assert.match(r.json().error, /queue of this model is full \(1 requests waiting\)/);
      }
      assert.equal((await waiting).statusCode, 200, 'the queued request is served');
      const afterwards = await app.inject({
        method: 'POST',
        url: '/v1/models/iris:predict',
        payload: 'not json',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(afterwards.statusCode, 400, 'with room in the queue, the body is read and judged as usual');
    } finally {
      await app.close();
    }
  });

  it('answers 503 with Retry-After to a request whose own queue timeout expires, and 400 to a bad timeout', async () => {
    const app = await buildApp({
      registry: await registry(),
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      batching: { maxBatchSize: 64, maxQueueDelayMicroseconds: 5_000_000 },
    });
    await app.ready();
    try {
      // The 5 s delay keeps a lone request queued; its own 20 ms timeout ends the wait.
      const infer = (parameters: object) =>
        app.inject({
          method: 'POST',
          url: '/v2/models/iris/infer',
          payload: { parameters, inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }] },
        });
      const r = await infer({ timeout: 20_000 });
      assert.equal(r.statusCode, 503);
      assert.equal(r.headers['retry-after'], '1');
      assert.match(r.json().error, /queue timeout/);
      const bad = await infer({ timeout: 'soon' });
      assert.equal(bad.statusCode, 400);
      assert.match(bad.json().error, /parameters\.timeout/);
    } finally {
      await app.close();
    }
  });
});

describe('model instances in worker threads', () => {
  it('answers exactly like the main-thread instance', async () => {
    const one = await buildApp({ registry: await registry(), env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
    const two = await buildApp({
      registry: await registry(),
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      modelBatching: { wide: { instanceCount: 2 } },
    });
    await Promise.all([one.ready(), two.ready()]);
    try {
      const bodies = Array.from({ length: 16 }, (_, i) => ({ instances: rowsFor(i, 1 + (i % 3), WIDE[0]) }));
      const a = await Promise.all(bodies.map((payload) => one.inject({ method: 'POST', url: '/v1/models/wide:predict', payload })));
      const b = await Promise.all(bodies.map((payload) => two.inject({ method: 'POST', url: '/v1/models/wide:predict', payload })));
      b.forEach((r, i) => {
        assert.equal(r.statusCode, 200, r.body);
        assert.equal(r.body, a[i].body);
      });
      const metrics = (await two.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /bnserve_inference_running_batches\{model="wide",version="1"\} 0/);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});
