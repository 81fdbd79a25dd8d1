// The Open Inference Protocol over gRPC, with a real client (@grpc/grpc-js loading the .proto)
// against a real server (startServer): every RPC, typed and raw contents, answers identical to
// REST, status codes, metrics, and a shutdown that drains.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { OverloadedError } from '../../src/serve/dataplane/batcher.ts';
import { serveConfigFromEnv } from '../../src/serve/config.ts';
import { grpcStatusFor } from '../../src/serve/grpc/status.ts';
import { HttpError } from '../../src/serve/http/http-errors.ts';
import { InvalidInputError, ModelUnavailableError, notFound, unservableOutput } from '../../src/serve/dataplane/errors.ts';
import { startServer, type RunningServer, type StartServerOptions } from '../../src/serve/index.ts';
import { RegistryError } from '../../src/registry/types.ts';
import { InferenceClient } from '../../faults/harness/grpc-client.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, pairVersionInput, randomMlp, versionInput } from './fixtures.ts';

const TOKEN = 'grpc-test-token';
type Json = Record<string, any>;

// What a client of its own would write: the published .proto, snake_case fields, int64 as strings.

function client(address: string): grpc.Client {
  return new InferenceClient(address, grpc.credentials.createInsecure());
}

type UnaryMethod = (request: object, options: grpc.CallOptions, callback: (err: grpc.ServiceError | null, res: Json) => void) => void;

/** One unary call: its response, or the ServiceError it failed with. */
function call(c: grpc.Client, method: string, request: object): Promise<Json> {
  return new Promise((resolve, reject) => {
    // A deadline only so that a broken server fails the test instead of hanging it.
    (c as unknown as Record<string, UnaryMethod>)[method](
      request,
      { deadline: Date.now() + 60_000 },
      (err: grpc.ServiceError | null, res: Json) => (err ? reject(err) : resolve(res)),
    );
  });
}

async function failure(promise: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  assert.fail('the call succeeded');
}

async function rest(server: RunningServer, method: 'GET' | 'POST', url: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await server.app.inject({
    method,
    url,
    ...(body !== undefined ? { payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body) } : {}),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return {
    status: r.statusCode,
    json: (String(r.headers['content-type']).includes('json') ? r.json() : {}) as Json,
    raw: r.rawPayload,
    headers: r.headers,
  };
}

async function registryWithModels(): Promise<FakeRegistry> {
  const registry = new FakeRegistry();
  const iris = versionInput('iris', randomMlp(51), 'classification');
  await registry.registerVersion(iris);
  await registry.registerVersion(pairVersionInput('pair', versionInput('pair', randomMlp(52, 4, 6, 1), 'regression')));
  // broken: its only version cannot load, so it has nothing to serve (REST: 503).
  await registry.registerVersion(versionInput('broken', randomMlp(53, 4, 6, 1), 'regression'));
  registry.corruptArtifact('broken', 1);
  return registry;
}

function serve(registry: FakeRegistry, extra: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  return startServer({
    registry,
    env: {},
    host: '127.0.0.1',
    port: 0,
    grpcPort: 0,
    providers: ['cpu'],
    adminToken: TOKEN,
    logger: false,
    refreshIntervalMs: 0,
    ...extra,
  });
}

const rows = IRIS_ROWS.slice(0, 3);
const fp32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const typedInput = (datatype = 'FP32', field = 'fp32_contents', data: unknown[] = rows.flat(), shape = [rows.length, 4]) => ({
  name: 'input',
  datatype,
  shape,
  contents: { [field]: data },
});
const restInput = (datatype = 'FP32', data: unknown[] = rows.flat(), shape = [rows.length, 4]) => ({
  name: 'input',
  datatype,
  shape,
  data,
});

describe('gRPC Open Inference Protocol', () => {
  let server: RunningServer;
  let c: grpc.Client;

  before(async () => {
    server = await serve(await registryWithModels());
    assert.ok(server.grpcAddress, 'the gRPC server is on');
    c = client(server.grpcAddress);
  });
  after(async () => {
    c.close();
    await server.close();
  });

  it('ServerLive, ServerReady and ServerMetadata answer what REST answers (extensions: those a gRPC caller can use)', async () => {
    assert.deepEqual(await call(c, 'ServerLive', {}), { live: true });
    // broken has no version to serve, so neither REST nor gRPC call the server ready.
    assert.equal((await rest(server, 'GET', '/v2/health/ready')).status, 503);
    assert.deepEqual(await call(c, 'ServerReady', {}), { ready: false });
    const metadata = await rest(server, 'GET', '/v2');
    assert.deepEqual(metadata.json.extensions, [
      'model_repository',
      'model_configuration',
      'statistics',
      'tf_serving_predict',
      'binary_tensor_data',
    ]);
    // binary_tensor_data and :predict are HTTP's: gRPC carries raw_input_contents natively and has no :predict.
    assert.deepEqual(await call(c, 'ServerMetadata', {}), {
      ...metadata.json,
      extensions: ['model_repository', 'model_configuration', 'statistics'],
    });
  });

  it('ModelReady: ready models and versions, not-ready ones, unknown ones', async () => {
    assert.deepEqual(await call(c, 'ModelReady', { name: 'iris', version: '' }), { ready: true });
    assert.deepEqual(await call(c, 'ModelReady', { name: 'iris', version: '1' }), { ready: true });
    assert.equal((await rest(server, 'GET', '/v2/models/broken/ready')).status, 503);
    assert.deepEqual(await call(c, 'ModelReady', { name: 'broken', version: '' }), { ready: false });
    assert.deepEqual(await call(c, 'ModelReady', { name: 'broken', version: '1' }), { ready: false });
    const unknown = await failure(call(c, 'ModelReady', { name: 'nope', version: '' }));
    assert.deepEqual(unknown, { code: grpc.status.NOT_FOUND, details: (await rest(server, 'GET', '/v2/models/nope/ready')).json.error });
    const badVersion = await failure(call(c, 'ModelReady', { name: 'iris', version: 'latest' }));
    assert.deepEqual(badVersion, { code: grpc.status.INVALID_ARGUMENT, details: 'version: version must be a positive integer' });
  });

  it('ModelMetadata answers the protocol fields of REST metadata, by default version and by number', async () => {
    for (const [request, url] of [
      [{ name: 'iris', version: '' }, '/v2/models/iris'],
      [{ name: 'pair', version: '1' }, '/v2/models/pair/versions/1'],
    ] as const) {
      const got = await call(c, 'ModelMetadata', request);
      const want = (await rest(server, 'GET', url)).json;
      const tensors = (list: Json[]) => list.map((t) => ({ name: t.name, datatype: t.datatype, shape: t.shape.map(String) }));
      assert.deepEqual(got, {
        name: want.name,
        versions: want.versions,
        platform: want.platform,
        inputs: tensors(want.inputs),
        outputs: tensors(want.outputs),
      });
    }
    const unknown = await failure(call(c, 'ModelMetadata', { name: 'iris', version: '7' }));
    assert.deepEqual(unknown, {
      code: grpc.status.NOT_FOUND,
      details: (await rest(server, 'GET', '/v2/models/iris/versions/7')).json.error,
    });
  });

  it('ModelInfer with typed contents answers exactly what REST answers (FP32, FP64 and INT64 inputs)', async () => {
    const cases = [
      ['FP32', 'fp32_contents', rows.flat()],
      ['FP64', 'fp64_contents', rows.flat()],
      ['INT64', 'int64_contents', rows.flat().map(Math.round)],
    ] as const;
    for (const [datatype, field, data] of cases) {
      const got = await call(c, 'ModelInfer', {
        model_name: 'iris',
        id: `typed-${datatype}`,
        inputs: [typedInput(datatype, field, [...data])],
      });
      const want = (
        await rest(server, 'POST', '/v2/models/iris/infer', { id: `typed-${datatype}`, inputs: [restInput(datatype, [...data])] })
      ).json;
      assert.equal(got.model_name, want.model_name);
      assert.equal(got.model_version, want.model_version);
      assert.equal(got.id, want.id);
      assert.deepEqual(got.raw_output_contents, [], 'typed in, typed out');
      assert.deepEqual(
        got.outputs.map((o: Json) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number), data: o.contents.fp32_contents })),
        want.outputs,
        datatype,
      );
    }
  });

  it('ModelInfer with raw_input_contents answers raw_output_contents, byte for byte the binary REST answer', async () => {
    const got = await call(c, 'ModelInfer', {
      model_name: 'iris',
      model_version: '1',
      inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, 4] }],
      raw_input_contents: [fp32(rows.flat())],
    });
    const header = JSON.stringify({
      inputs: [{ name: 'input', datatype: 'FP32', shape: [rows.length, 4], parameters: { binary_data_size: rows.length * 16 } }],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    });
    const binary = await rest(server, 'POST', '/v2/models/iris/versions/1/infer', Buffer.concat([Buffer.from(header), fp32(rows.flat())]), {
      'inference-header-content-length': String(Buffer.byteLength(header)),
      'content-type': 'application/octet-stream',
    });
    assert.equal(binary.status, 200);
    const headerLength = Number(binary.headers['inference-header-content-length']);
    const restHeader = JSON.parse(binary.raw.subarray(0, headerLength).toString()) as Json;
    assert.equal(got.outputs.length, 1);
    assert.deepEqual(
      { name: got.outputs[0].name, datatype: got.outputs[0].datatype, shape: got.outputs[0].shape.map(Number) },
      { name: restHeader.outputs[0].name, datatype: restHeader.outputs[0].datatype, shape: restHeader.outputs[0].shape },
    );
    assert.equal(got.outputs[0].contents, null, 'raw out: no typed contents');
    assert.deepEqual(got.raw_output_contents, [binary.raw.subarray(headerLength)]);
    // And the same numbers as the JSON answer.
    const json = (await rest(server, 'POST', '/v2/models/iris/infer', { inputs: [restInput()] })).json;
    const raw = got.raw_output_contents[0] as Buffer;
    assert.deepEqual(Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length))), json.outputs[0].data);
  });

  it('ModelInfer binds several inputs by name and selects outputs, as REST does', async () => {
    const a = [1, 2, 3, 4];
    const b = [10, 20, 30, 40];
    const got = await call(c, 'ModelInfer', {
      model_name: 'pair',
      inputs: [
        { name: 'b', datatype: 'FP32', shape: [2, 2], contents: { fp32_contents: b } },
        { name: 'a', datatype: 'FP32', shape: [2, 2], contents: { fp32_contents: a } },
      ],
      outputs: [{ name: 'sum' }],
    });
    assert.deepEqual(got.outputs[0].contents.fp32_contents, [11, 22, 33, 44]);
    const raw = await call(c, 'ModelInfer', {
      model_name: 'pair',
      inputs: [
        { name: 'a', datatype: 'FP32', shape: [2, 2] },
        { name: 'b', datatype: 'FP32', shape: [2, 2] },
      ],
      raw_input_contents: [fp32(a), fp32(b)],
    });
    assert.deepEqual(raw.raw_output_contents, [fp32([11, 22, 33, 44])]);
  });

  it('the queue timeout parameter reaches the scheduler (int64_param), a bad one is INVALID_ARGUMENT like REST', async () => {
    const ok = await call(c, 'ModelInfer', {
      model_name: 'iris',
      parameters: { timeout: { int64_param: '5000000' } },
      inputs: [typedInput()],
    });
    assert.equal(ok.outputs.length, 1);
    const bad = await failure(
      call(c, 'ModelInfer', { model_name: 'iris', parameters: { timeout: { string_param: 'soon' } }, inputs: [typedInput()] }),
    );
    const want = await rest(server, 'POST', '/v2/models/iris/infer', { parameters: { timeout: 'soon' }, inputs: [restInput()] });
    assert.deepEqual(bad, { code: grpc.status.INVALID_ARGUMENT, details: want.json.error });
  });

  it('errors carry the status REST answers with, and the same message', async () => {
    const infer = (request: Json) => failure(call(c, 'ModelInfer', request));
    const restError = async (url: string, body: Json) => {
      const r = await rest(server, 'POST', url, body);
      // The same message, naming the gRPC fields: "body.inputs[0]" is "inputs[0]", "data" is "contents.fp32_contents".
      const error = String(r.json.error)
        .replace(/^body\./, '')
        .replace(/^(inputs\[\d+\])\.data:/, '$1.contents.fp32_contents:');
      return { status: r.status, error };
    };
    const cases: [string, Json, string, Json, number, grpc.status][] = [
      [
        'unknown model',
        { model_name: 'nope', inputs: [typedInput()] },
        '/v2/models/nope/infer',
        { inputs: [restInput()] },
        404,
        grpc.status.NOT_FOUND,
      ],
      [
        'unknown version',
        { model_name: 'iris', model_version: '9', inputs: [typedInput()] },
        '/v2/models/iris/versions/9/infer',
        { inputs: [restInput()] },
        404,
        grpc.status.NOT_FOUND,
      ],
      [
        'bad shape',
        { model_name: 'iris', inputs: [typedInput('FP32', 'fp32_contents', [1, 2, 3], [1, 3])] },
        '/v2/models/iris/infer',
        { inputs: [restInput('FP32', [1, 2, 3], [1, 3])] },
        400,
        grpc.status.INVALID_ARGUMENT,
      ],
      [
        'unsupported datatype',
        { model_name: 'iris', inputs: [typedInput('BYTES', 'bytes_contents', [Buffer.from('x')], [1, 1])] },
        '/v2/models/iris/infer',
        { inputs: [restInput('BYTES', ['x'], [1, 1])] },
        400,
        grpc.status.INVALID_ARGUMENT,
      ],
      [
        'too many values for the shape',
        { model_name: 'iris', inputs: [typedInput('FP32', 'fp32_contents', [1, 2, 3, 4, 5], [1, 4])] },
        '/v2/models/iris/infer',
        { inputs: [restInput('FP32', [1, 2, 3, 4, 5], [1, 4])] },
        400,
        grpc.status.INVALID_ARGUMENT,
      ],
      [
        'more rows than BNSERVE_MAX_ROWS',
        { model_name: 'iris', inputs: [typedInput('FP32', 'fp32_contents', [1], [100_000, 4])] },
        '/v2/models/iris/infer',
        { inputs: [restInput('FP32', [1], [100_000, 4])] },
        400,
        grpc.status.INVALID_ARGUMENT,
      ],
      [
        'unknown output',
        { model_name: 'iris', inputs: [typedInput()], outputs: [{ name: 'logits' }] },
        '/v2/models/iris/infer',
        { inputs: [restInput()], outputs: [{ name: 'logits' }] },
        400,
        grpc.status.INVALID_ARGUMENT,
      ],
      [
        'missing input of a two-input model',
        { model_name: 'pair', inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], contents: { fp32_contents: [1, 2] } }] },
        '/v2/models/pair/infer',
        { inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], data: [1, 2] }] },
        400,
        grpc.status.INVALID_ARGUMENT,
      ],
      [
        'a model with no version ready',
        { model_name: 'broken', inputs: [typedInput()] },
        '/v2/models/broken/infer',
        { inputs: [restInput()] },
        503,
        grpc.status.UNAVAILABLE,
      ],
      [
        'a version that failed to load',
        { model_name: 'broken', model_version: '1', inputs: [typedInput()] },
        '/v2/models/broken/versions/1/infer',
        { inputs: [restInput()] },
        503,
        grpc.status.UNAVAILABLE,
      ],
    ];
    for (const [what, request, url, body, httpStatus, code] of cases) {
      const want = await restError(url, body);
      assert.equal(want.status, httpStatus, `${what}: REST answers ${httpStatus} (${want.error})`);
      assert.deepEqual(await infer(request), { code, details: want.error }, what);
    }
  });

  it('refuses contents that do not fit the protocol (gRPC-only checks) with INVALID_ARGUMENT', async () => {
    const invalid = async (request: Json, details: RegExp) => {
      const got = await failure(call(c, 'ModelInfer', { model_name: 'iris', ...request }));
      assert.equal(got.code, grpc.status.INVALID_ARGUMENT, got.details);
      assert.match(got.details, details);
    };
    const header = { name: 'input', datatype: 'FP32', shape: [1, 4] };
    await invalid({ inputs: [header] }, /^inputs\[0\]\.contents\.fp32_contents: required \(or raw_input_contents for every input\)$/);
    await invalid(
      { inputs: [{ ...header, contents: { int_contents: [1, 2, 3, 4] } }] },
      /^inputs\[0\]\.contents: datatype FP32 is carried in fp32_contents, not in int_contents$/,
    );
    await invalid(
      { inputs: [{ ...header, contents: { fp32_contents: [1, 2, 3, 4] } }], raw_input_contents: [fp32([1, 2, 3, 4])] },
      /^inputs\[0\]\.contents: give either contents or raw_input_contents, not both$/,
    );
    await invalid(
      { inputs: [header], raw_input_contents: [fp32([1, 2, 3, 4]), fp32([1])] },
      /^raw_input_contents has 2 entries for 1 inputs/,
    );
    await invalid(
      { inputs: [header], raw_input_contents: [fp32([1, 2, 3])] },
      /^raw_input_contents\[0\]: 12 bytes, but inputs\[0\] \(shape \[1, 4\] of FP32\) needs 16$/,
    );
    await invalid(
      { inputs: [header], raw_input_contents: [fp32([1, Number.NaN, 3, 4])] },
      /^raw_input_contents\[0\]\[1\]: expected a finite number, got NaN$/,
    );
    await invalid(
      { inputs: [{ ...header, contents: { fp32_contents: [1, Number.POSITIVE_INFINITY, 3, 4] } }] },
      /fp32_contents\[1\]: expected a finite number/,
    );
    await invalid(
      { inputs: [{ ...header, datatype: 'INT64', contents: { int64_contents: ['9007199254740993', '1', '2', '3'] } }] },
      /int64_contents\[0\]: .* cannot be represented exactly/,
    );
    await invalid({ model_name: '../etc', inputs: [{ ...header, contents: { fp32_contents: [1, 2, 3, 4] } }] }, /^model_name: /);
  });

  it('counts calls in the same metrics and statistics as REST: route = gRPC method, status = gRPC status name', async () => {
    const before = (await rest(server, 'GET', '/v2/models/iris/stats')).json.model_stats[0].inference_count as number;
    await call(c, 'ModelInfer', { model_name: 'iris', inputs: [typedInput()] });
    const stats = (await rest(server, 'GET', '/v2/models/iris/stats')).json.model_stats[0];
    assert.equal(stats.inference_count, before + rows.length, 'the statistics extension counts gRPC inferences');
    const metrics = (await rest(server, 'GET', '/metrics')).raw.toString();
    assert.match(
      metrics,
      /bnserve_requests_total\{route="\/inference\.GRPCInferenceService\/ModelInfer",model="iris",version="1",status="OK"\} \d+/,
    );
    assert.match(
      metrics,
      /bnserve_requests_total\{route="\/inference\.GRPCInferenceService\/ModelInfer",model="",version="",status="NOT_FOUND"\} \d+/,
    );
    assert.match(
      metrics,
      /bnserve_requests_total\{route="\/inference\.GRPCInferenceService\/ServerLive",model="",version="",status="OK"\} \d+/,
    );
    assert.match(
      metrics,
      /bnserve_unavailable_responses_total\{route="\/inference\.GRPCInferenceService\/ModelInfer",model="broken",reason="load_failed"\} \d+/,
    );
    assert.match(
      metrics,
      /bnserve_request_duration_seconds_count\{route="\/inference\.GRPCInferenceService\/ModelInfer",model="iris",version="1"\} \d+/,
    );
  });

  it('an unloaded model is NOT_FOUND, as REST answers 404', async () => {
    const unloaded = await rest(server, 'POST', '/v2/repository/models/pair/unload', {}, { authorization: `Bearer ${TOKEN}` });
    assert.equal(unloaded.status, 200);
    try {
      const want = await rest(server, 'POST', '/v2/models/pair/infer', {
        inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], data: [1, 2] }],
      });
      assert.equal(want.status, 404);
      const got = await failure(
        call(c, 'ModelInfer', {
          model_name: 'pair',
          inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], contents: { fp32_contents: [1, 2] } }],
        }),
      );
      assert.deepEqual(got, { code: grpc.status.NOT_FOUND, details: want.json.error });
    } finally {
      await rest(server, 'POST', '/v2/repository/models/pair/load', {}, { authorization: `Bearer ${TOKEN}` });
    }
  });

  it('a message larger than BNSERVE_BODY_LIMIT_BYTES is RESOURCE_EXHAUSTED, as REST answers 413', async () => {
    const limited = await serve(new FakeRegistry(), { limits: { bodyLimit: 64 * 1024 } });
    const l = client(limited.grpcAddress!);
    try {
      const big = {
        model_name: 'iris',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }],
        raw_input_contents: [Buffer.alloc(65 * 1024)],
      };
      assert.equal((await failure(call(l, 'ModelInfer', big))).code, grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      l.close();
      await limited.close();
    }
  });

  it('ServerReady is false while the server drains', async () => {
    const healthy = await serve(new FakeRegistry());
    const h = client(healthy.grpcAddress!);
    try {
      assert.deepEqual(await call(h, 'ServerReady', {}), { ready: true });
      healthy.app.lifecycle.draining = true;
      assert.deepEqual(await call(h, 'ServerReady', {}), { ready: false });
    } finally {
      h.close();
      await healthy.close();
    }
  });
});

describe('gRPC shutdown', () => {
  it('answers a call in flight while close() drains, then refuses new calls', { timeout: 120_000 }, async () => {
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(54), 'classification'));
    // A lone request waits up to the queue delay for company: long enough to be in flight at close().
    const server = await serve(registry, { modelBatching: { iris: { maxQueueDelayMicroseconds: 1_000_000 } } });
    const c = client(server.grpcAddress!);
    const address = server.grpcAddress!;
    try {
      assert.deepEqual(await call(c, 'ServerLive', {}), { live: true });
      const inFlight = call(c, 'ModelInfer', { model_name: 'iris', inputs: [typedInput()] });
      const [version] = server.app.models.loadedVersions();
      while (version.queuedRequests === 0) await new Promise((r) => setTimeout(r, 5));
      const closed = server.close();
      const answer = await inFlight;
      assert.equal(answer.outputs[0].contents.fp32_contents.length, rows.length * 3, 'the call in flight is answered in full');
      await closed;
      const late = client(address);
      try {
        const refused = await failure(call(late, 'ServerLive', {}));
        assert.equal(refused.code, grpc.status.UNAVAILABLE, refused.details);
      } finally {
        late.close();
      }
    } finally {
      c.close();
      await server.close();
    }
  });
});

describe('one scheduler for both protocols', () => {
  it('a gRPC call and a REST request queued together run as one batch', { timeout: 120_000 }, async () => {
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(55), 'classification'));
    // Dispatch once 4 rows are queued (the 10 s delay only bounds a broken test).
    const batching = { maxQueueDelayMicroseconds: 10_000_000, preferredBatchSizes: [4] };
    const server = await serve(registry, { modelBatching: { iris: batching } });
    const c = client(server.grpcAddress!);
    try {
      const viaGrpc = call(c, 'ModelInfer', { model_name: 'iris', inputs: [typedInput('FP32', 'fp32_contents', IRIS_ROWS[0], [1, 4])] });
      const viaRest = rest(server, 'POST', '/v2/models/iris/infer', { inputs: [restInput('FP32', IRIS_ROWS.slice(1, 4).flat(), [3, 4])] });
      const [g, r] = await Promise.all([viaGrpc, viaRest]);
      assert.equal(g.outputs[0].contents.fp32_contents.length, 3);
      assert.equal(r.json.outputs[0].data.length, 9);
      const stats = (await rest(server, 'GET', '/v2/models/iris/stats')).json.model_stats[0];
      assert.equal(stats.inference_count, 4);
      assert.equal(stats.execution_count, 1, 'one onnxruntime run served both');
      assert.deepEqual(
        stats.batch_stats.map((b: Json) => b.batch_size),
        [4],
      );
    } finally {
      c.close();
      await server.close();
    }
  });
});

describe('gRPC settings', () => {
  it('BNSERVE_GRPC_PORT: 8081 by default, a port, or 0 for off', () => {
    assert.equal(serveConfigFromEnv({}).grpcPort, 8081);
    assert.equal(serveConfigFromEnv({ BNSERVE_GRPC_PORT: '8001' }).grpcPort, 8001);
    assert.equal(serveConfigFromEnv({ BNSERVE_GRPC_PORT: '0' }).grpcPort, null);
    assert.throws(() => serveConfigFromEnv({ BNSERVE_GRPC_PORT: 'grpc' }), /BNSERVE_GRPC_PORT: must be a whole number from 0 to 65535/);
    assert.throws(() => serveConfigFromEnv({ BNSERVE_GRPC_PORT: '70000' }), /BNSERVE_GRPC_PORT: must be at most 65535/);
  });

  it('startServer: off with BNSERVE_GRPC_PORT=0 or grpcPort: null; a free port beside a free HTTP port', async () => {
    const registry = new FakeRegistry();
    for (const extra of [{ env: { BNSERVE_GRPC_PORT: '0' }, grpcPort: undefined }, { grpcPort: null }]) {
      const off = await serve(registry, extra);
      try {
        assert.equal(off.grpcAddress, null, JSON.stringify(extra));
      } finally {
        await off.close();
      }
    }
    const paired = await serve(registry, { grpcPort: undefined });
    try {
      assert.match(paired.grpcAddress ?? '', /^127\.0\.0\.1:\d+$/);
      assert.notEqual(paired.grpcAddress, '127.0.0.1:8081');
    } finally {
      await paired.close();
    }
  });

  it('a gRPC port in use fails startServer with a configuration error (CLI exit 2) whose one line names the setting', async () => {
    const registry = new FakeRegistry();
    const first = await serve(registry);
    try {
      const port = Number(first.grpcAddress!.split(':')[1]);
      await assert.rejects(serve(registry, { grpcPort: port }), {
        name: 'ConfigError',
        code: 'invalid_config',
        message: `cannot serve gRPC on 127.0.0.1:${port}: the port is in use; set BNSERVE_GRPC_PORT to a free port (0 turns gRPC off)`,
      });
    } finally {
      await first.close();
    }
  });
});

describe('grpcStatusFor', () => {
  it('maps domain errors as REST does, and hides everything else behind INTERNAL', () => {
    assert.deepEqual(grpcStatusFor(new InvalidInputError('bad')), { code: grpc.status.INVALID_ARGUMENT, details: 'bad' });
    assert.deepEqual(grpcStatusFor(unservableOutput('unprocessable')), { code: grpc.status.INVALID_ARGUMENT, details: 'unprocessable' });
    assert.deepEqual(grpcStatusFor(notFound('missing')), { code: grpc.status.NOT_FOUND, details: 'missing' });
    assert.deepEqual(grpcStatusFor(new ModelUnavailableError('loading', 'not_loaded')), {
      code: grpc.status.UNAVAILABLE,
      details: 'loading',
    });
    assert.deepEqual(grpcStatusFor(new OverloadedError('queue full', 'queue_full')), {
      code: grpc.status.UNAVAILABLE,
      details: 'queue full',
    });
    const registryDown = grpcStatusFor(new RegistryError('unavailable', 'database /srv/registry.db is gone'));
    assert.equal(registryDown.code, grpc.status.UNAVAILABLE);
    assert.doesNotMatch(registryDown.details, /srv/);
    assert.deepEqual(grpcStatusFor(new Error('ENOENT /srv/secret')), { code: grpc.status.INTERNAL, details: 'internal server error' });
    assert.deepEqual(grpcStatusFor(new HttpError(500, 'boom at /srv')), { code: grpc.status.INTERNAL, details: 'internal server error' });
  });
});
