// What Triton's (tritonclient.http, sync and aio) and KServe's (InferenceRESTClient) Python clients
// send with their default settings, byte for byte in the headers that matter, over a real socket
// with node:http (no fetch conveniences that add headers of their own).
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

const TOKEN = 'clients-token';
const ROWS = 128; // 128 rows × 3 classes × 4 bytes = 1536 bytes of output: above the compression threshold

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

let port = 0;
function send(method: string, path: string, headers: Record<string, string | number>, body?: Buffer | string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const rows = Array.from({ length: ROWS }, (_, i) =>
  [5 + Math.sin(i), 3 + Math.cos(i), 1.5 + Math.sin(i * 2), 0.2 + i / 1000].map(Math.fround),
);
const input = Float32Array.from(rows.flat());
const inputBytes = Buffer.from(input.buffer);

/** tritonclient's _get_inference_request: json.dumps (", " and ": " separators), then the raw bytes. */
function tritonBody(extra: Record<string, unknown> = { parameters: { binary_data_output: true } }) {
  const header = JSON.stringify({
    inputs: [{ name: 'INPUT0', shape: [ROWS, 4], datatype: 'FP32', parameters: { binary_data_size: inputBytes.length } }],
    ...extra,
  })
    .replaceAll(',', ', ')
    .replaceAll(':', ': ');
  return { body: Buffer.concat([Buffer.from(header), inputBytes]), headerLength: Buffer.byteLength(header) };
}

/** Splits a binary-extension answer; checks every byte is accounted for. */
function binaryOutputs(a: Answer, body = a.body) {
  const n = Number(a.headers['inference-header-content-length']);
  const header = JSON.parse(body.toString('utf8', 0, n));
  let offset = n;
  const data: Record<string, number[]> = {};
  for (const o of header.outputs) {
    const size = o.parameters.binary_data_size;
    data[o.name] = Array.from(new Float32Array(body.buffer.slice(body.byteOffset + offset, body.byteOffset + offset + size)));
    offset += size;
  }
  assert.equal(offset, body.length);
  return { header, data };
}

describe('real clients with their default settings', () => {
  let app: FastifyInstance;
  let expected: number[];

  before(async () => {
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(5), 'classification'));
    app = await buildApp({ registry, env: {}, providers: ['cpu'], refreshIntervalMs: 0, adminToken: TOKEN });
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as AddressInfo).port;
    const json = await send(
      'POST',
      '/v2/models/iris/infer',
      { 'content-type': 'application/json' },
      JSON.stringify({ inputs: [{ name: 'input', shape: [ROWS, 4], datatype: 'FP32', data: rows.flat() }] }),
    );
    assert.equal(json.status, 200, json.body.toString());
    expected = JSON.parse(json.body.toString()).outputs[0].data;
  });
  after(async () => {
    await app.close();
  });

  it('Triton sync client: binary input, no Content-Type, binary_data_output → binary answer with the JSON values', async () => {
    const { body, headerLength } = tritonBody();
    // geventhttpclient sends no Content-Type and no Accept-Encoding.
    const a = await send(
      'POST',
      '/v2/models/iris/infer',
      { 'Inference-Header-Content-Length': headerLength, 'Content-Length': body.length },
      body,
    );
    assert.equal(a.status, 200, a.body.toString());
    assert.equal(a.headers['content-encoding'], undefined);
    const { header, data } = binaryOutputs(a);
    assert.equal(header.id, undefined, 'no id asked, none answered');
    assert.deepEqual(header.outputs[0].shape, [ROWS, 3]);
    assert.deepEqual(data.probabilities, expected);
  });

  it("Triton aio client: application/octet-stream and aiohttp's Accept-Encoding → gzip answer it can read", async () => {
    const { body, headerLength } = tritonBody();
    const a = await send(
      'POST',
      '/v2/models/iris/infer',
      {
        'Content-Type': 'application/octet-stream',
        'Accept-Encoding': 'gzip, deflate',
        'Inference-Header-Content-Length': headerLength,
      },
      body,
    );
    assert.equal(a.status, 200, a.body.toString());
    assert.equal(a.headers['content-encoding'], 'gzip');
    assert.deepEqual(binaryOutputs(a, zlib.gunzipSync(a.body)).data.probabilities, expected);
  });

  it('Triton aio client: a JSON request sent as application/octet-stream (binary_data=False)', async () => {
    const body = JSON.stringify({ id: 'r1', inputs: [{ name: 'INPUT0', shape: [2, 4], datatype: 'FP32', data: rows.slice(0, 2).flat() }] });
    const a = await send('POST', '/v2/models/iris/infer', { 'Content-Type': 'application/octet-stream' }, body);
    assert.equal(a.status, 200, a.body.toString());
    assert.equal(a.headers['content-type'], 'application/json');
    const answer = JSON.parse(a.body.toString());
    assert.equal(answer.id, 'r1', 'id echoed when given');
    assert.deepEqual(answer.outputs[0].data, expected.slice(0, 6));
  });

  it('Triton clients: request_compression_algorithm gzip and deflate (zlib format) on a binary request', async () => {
    const { body, headerLength } = tritonBody();
    for (const [encoding, compressed] of [
      ['gzip', zlib.gzipSync(body)],
      ['deflate', zlib.deflateSync(body)],
    ] as const) {
      const a = await send(
        'POST',
        '/v2/models/iris/infer',
        { 'Content-Encoding': encoding, 'Inference-Header-Content-Length': headerLength },
        compressed,
      );
      assert.equal(a.status, 200, `${encoding}: ${a.body.toString()}`);
      assert.deepEqual(binaryOutputs(a).data.probabilities, expected);
    }
  });

  it('KServe InferenceRESTClient: binary request (octet-stream, id, model_name, binary_data output) and JSON request', async () => {
    const header = JSON.stringify({
      id: 'k-1',
      model_name: 'iris',
      inputs: [{ name: 'input-0', shape: [ROWS, 4], datatype: 'FP32', parameters: { binary_data_size: inputBytes.length } }],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    });
    const a = await send(
      'POST',
      '/v2/models/iris/infer',
      {
        'content-type': 'application/octet-stream',
        'inference-header-content-length': String(Buffer.byteLength(header)),
        'accept-encoding': 'gzip, deflate',
      },
      Buffer.concat([Buffer.from(header), inputBytes]),
    );
    assert.equal(a.status, 200, a.body.toString());
    const { header: h, data } = binaryOutputs(a, zlib.gunzipSync(a.body));
    assert.equal(h.id, 'k-1');
    assert.deepEqual(data.probabilities, expected);

    const j = await send(
      'POST',
      '/v2/models/iris/infer',
      { 'content-type': 'application/json', 'accept-encoding': 'gzip, deflate' },
      JSON.stringify({ id: 'k-2', model_name: 'iris', inputs: [{ name: 'input-0', shape: [1, 4], datatype: 'FP32', data: rows[0] }] }),
    );
    assert.equal(j.status, 200);
    assert.equal(j.headers['content-type'], 'application/json');
    assert.equal(j.headers['content-encoding'], undefined, 'small answers are not compressed');
    assert.equal(JSON.parse(j.body.toString()).id, 'k-2');
  });

  it('errors have exactly Content-Type application/json and an {"error"} body, never compressed', async () => {
    const cases: [string, string, Record<string, string>, string | Buffer | undefined, number][] = [
      ['POST', '/v2/models/iris/infer', { 'content-type': 'application/json', 'accept-encoding': 'gzip' }, '{"inputs": 5}', 400],
      ['GET', '/v2/models/nope', {}, undefined, 404],
      ['GET', '/nowhere', {}, undefined, 404],
      ['GET', '/v2/models/%zz', {}, undefined, 400],
      ['POST', '/v2/models/iris/infer', { 'content-type': 'application/xml' }, '<a/>', 415],
      ['POST', '/v2/repository/index', {}, '', 401],
    ];
    for (const [method, path, headers, body, status] of cases) {
      const a = await send(method, path, headers, body);
      assert.equal(a.status, status, `${method} ${path}: ${a.body.toString()}`);
      assert.equal(a.headers['content-type'], 'application/json', `${method} ${path}`);
      assert.equal(a.headers['content-encoding'], undefined);
      assert.deepEqual(Object.keys(JSON.parse(a.body.toString())), ['error']);
    }
  });

  it('a gzip bomb is refused with 413 once its decompressed size passes the body limit; broken gzip is a 400', async () => {
    const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20)); // 64 MiB of spaces, ~64 KiB compressed
    assert.ok(bomb.length < app.serveConfig.limits.bodyLimit);
    const a = await send('POST', '/v2/models/iris/infer', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, bomb);
    assert.equal(a.status, 413, a.body.toString());
    assert.match(JSON.parse(a.body.toString()).error, /larger than the limit of \d+ bytes once decompressed/);
    const b = await send('POST', '/v2/models/iris/infer', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, 'not gzip');
    assert.equal(b.status, 400);
    assert.match(JSON.parse(b.body.toString()).error, /not valid gzip data/);
    const c = await send('POST', '/v2/models/iris/infer', { 'content-type': 'application/json', 'content-encoding': 'br' }, '{}');
    assert.equal(c.status, 415);
    assert.match(JSON.parse(c.body.toString()).error, /Content-Encoding "br" is not supported/);
  });

  it('says what is wrong: unsupported content type → 415, prototype keys → 400', async () => {
    const xml = await send('POST', '/v1/models/iris:predict', { 'content-type': 'application/xml' }, '<a/>');
    assert.equal(xml.status, 415);
    assert.match(JSON.parse(xml.body.toString()).error, /Content-Type "application\/xml" is not supported: send JSON as application\/json/);
    for (const body of [
      '{"instances": [[1,2,3,4]], "__proto__": {"x": 1}}',
      '{"instances": [[1,2,3,4]], "a": {"constructor": {"prototype": {}}}}',
      // The same key spelled with JSON escapes: the text never contains "__proto__" itself.
      '{"instances": [[1,2,3,4]], "\\u005f_proto__": {"x": 1}}',
    ]) {
      const a = await send('POST', '/v1/models/iris:predict', { 'content-type': 'application/json' }, body);
      assert.equal(a.status, 400);
      assert.match(JSON.parse(a.body.toString()).error, /contains the key "(__proto__|a\.constructor\.prototype)", which is not allowed/);
    }
  });

  it('outputs: [] answers every output; an output named twice is a 400', async () => {
    const base = { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rows[0] }] };
    const all = await send(
      'POST',
      '/v2/models/iris/infer',
      { 'content-type': 'application/json' },
      JSON.stringify({ ...base, outputs: [] }),
    );
    assert.equal(all.status, 200);
    assert.deepEqual(
      JSON.parse(all.body.toString()).outputs.map((o: { name: string }) => o.name),
      ['probabilities'],
    );
    const twice = await send(
      'POST',
      '/v2/models/iris/infer',
      { 'content-type': 'application/json' },
      JSON.stringify({ ...base, outputs: [{ name: 'probabilities' }, { name: 'probabilities' }] }),
    );
    assert.equal(twice.status, 400);
    assert.match(JSON.parse(twice.body.toString()).error, /"probabilities" is asked for twice/);
  });

  it("GET /config: the model settings in Triton's shape", async () => {
    for (const path of ['/v2/models/iris/config', '/v2/models/iris/versions/1/config']) {
      const a = await send('GET', path, {});
      assert.equal(a.status, 200, a.body.toString());
      const c = JSON.parse(a.body.toString());
      assert.equal(c.name, 'iris');
      assert.equal(c.platform, 'onnxruntime_onnx');
      assert.equal(c.max_batch_size, app.batchingSettings.get('iris').maxBatchSize);
      assert.deepEqual(c.input, [{ name: 'input', data_type: 'TYPE_FP32', dims: [4] }]);
      assert.deepEqual(c.output, [{ name: 'probabilities', data_type: 'TYPE_FP32', dims: [3] }]);
      assert.deepEqual(c.dynamic_batching.default_queue_policy.max_queue_size, app.batchingSettings.get('iris').maxQueueSize);
      assert.equal(typeof c.dynamic_batching.max_queue_delay_microseconds, 'number');
      assert.deepEqual(c.instance_group, [{ name: 'iris_0', kind: 'KIND_CPU', count: 1 }]);
      assert.deepEqual(c.version_policy, { specific: { versions: [1] } });
    }
    assert.equal((await send('GET', '/v2/models/nope/config', {})).status, 404);
  });

  it("GET /stats: Triton's shape, and the numbers move with inferences and failures", async () => {
    const read = async (path: string) => {
      const a = await send('GET', path, {});
      assert.equal(a.status, 200, a.body.toString());
      return JSON.parse(a.body.toString()).model_stats;
    };
    const [before] = await read('/v2/models/iris/stats');
    assert.equal(before.name, 'iris');
    assert.equal(before.version, '1');
    for (const k of ['success', 'fail', 'queue', 'compute_input', 'compute_infer', 'compute_output']) {
      assert.deepEqual(Object.keys(before.inference_stats[k]).sort(), ['count', 'ns'], k);
    }
    const ok = JSON.stringify({ inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data: rows.slice(0, 3).flat() }] });
    for (let i = 0; i < 2; i++)
      assert.equal((await send('POST', '/v2/models/iris/infer', { 'content-type': 'application/json' }, ok)).status, 200);
    assert.equal((await send('POST', '/v1/models/iris:predict', {}, JSON.stringify({ instances: [rows[0]] }))).status, 200);
    const bad = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3] }] });
    assert.equal((await send('POST', '/v2/models/iris/infer', {}, bad)).status, 400);

    const [now] = await read('/v2/models/iris/versions/1/stats');
    const s = now.inference_stats;
    assert.equal(s.success.count - before.inference_stats.success.count, 3);
    assert.equal(now.inference_count - before.inference_count, 7, 'rows: 3 + 3 + 1');
    assert.equal(now.execution_count - before.execution_count, 3);
    assert.equal(s.fail.count - before.inference_stats.fail.count, 1);
    for (const k of ['success', 'queue', 'compute_input', 'compute_infer', 'compute_output']) {
      assert.equal(s[k].count - before.inference_stats[k].count, 3, k);
      assert.ok(s[k].ns >= before.inference_stats[k].ns, k);
    }
    assert.ok(s.success.ns > before.inference_stats.success.ns);
    assert.ok(s.compute_infer.ns > before.inference_stats.compute_infer.ns);
    assert.ok(now.last_inference >= Date.now() - 60_000 && now.last_inference <= Date.now());
    assert.ok(
      now.batch_stats.some(
        (b: { batch_size: number; compute_infer: { count: number } }) => b.batch_size === 3 && b.compute_infer.count >= 2,
      ),
    );

    const everything = await read('/v2/models/stats');
    assert.deepEqual(
      everything.map((m: { name: string }) => m.name),
      ['iris'],
    );
    assert.equal((await send('GET', '/v2/models/nope/stats', {})).status, 404);
  });

  it('advertises model_configuration and statistics, and model_repository only with an admin token', async () => {
    const ext = JSON.parse((await send('GET', '/v2', {})).body.toString()).extensions;
    for (const e of ['model_configuration', 'statistics', 'binary_tensor_data', 'model_repository']) assert.ok(ext.includes(e), e);
    const bare = await buildApp({ registry: new FakeRegistry(), env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
    const r = await bare.inject({ method: 'GET', url: '/v2' });
    assert.ok(!r.json().extensions.includes('model_repository'));
    await bare.close();
  });

  it('load_model(config=...) is a 400 that says overrides are not supported; a plain load works', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const withConfig = await send(
      'POST',
      '/v2/repository/models/iris/load',
      auth,
      JSON.stringify({ parameters: { config: '{"max_batch_size": 8}' } }),
    );
    assert.equal(withConfig.status, 400);
    assert.match(JSON.parse(withConfig.body.toString()).error, /parameters\.config is not supported/);
    const plain = await send('POST', '/v2/repository/models/iris/load', auth, '{}');
    assert.equal(plain.status, 200, plain.body.toString());
    const index = await send('POST', '/v2/repository/index', auth, '');
    assert.equal(index.status, 200, index.body.toString());
  });
});
