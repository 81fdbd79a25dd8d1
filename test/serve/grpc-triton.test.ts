// Triton's extensions over gRPC with a real client (@grpc/grpc-js loading our .proto) against a real
// server (startServer): ModelConfig and ModelStatistics answer what REST's /config and /stats answer,
// ModelStreamInfer (1,000 requests with bad ones among them, per-stream limits, the stall guard, the
// drain), and the repository RPCs behind the admin token.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startGrpcServer } from '../../src/serve/grpc/server.ts';
import { type RunningServer, type StartServerOptions, startServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, pairVersionInput, randomMlp, versionInput } from './fixtures.ts';
import { InferenceClient } from '../../faults/harness/grpc-client.ts';
import { rawConnection, stalledCall } from './grpc-test-calls.ts';

const TOKEN = 'grpc-triton-token';
const STREAM = '/inference.GRPCInferenceService/ModelStreamInfer';
type Json = Record<string, any>;

type UnaryMethod = (
  request: object,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, res: Json) => void,
) => void;

function client(address: string): grpc.Client {
  return new InferenceClient(address, grpc.credentials.createInsecure());
}

/** One unary call (with `authorization` metadata when given): its response, or the ServiceError. */
function call(c: grpc.Client, method: string, request: object, authorization?: string): Promise<Json> {
  const metadata = new grpc.Metadata();
  if (authorization !== undefined) metadata.set('authorization', authorization);
  return new Promise((resolve, reject) => {
    (c as unknown as Record<string, UnaryMethod>)[method](request, metadata, { deadline: Date.now() + 60_000 }, (err, res) =>
      err ? reject(err) : resolve(res),
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
    ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: r.statusCode, json: r.json() as Json };
}

type Duplex = grpc.ClientDuplexStream<object, Json>;

function openStream(c: grpc.Client): Duplex {
  return (c as unknown as { ModelStreamInfer(): Duplex }).ModelStreamInfer();
}

/**
 * Writes the requests on one stream as fast as flow control lets it, then half-closes; resolves with
 * every answer, in arrival order, and the stream's final status.
 */
function streamAll(c: grpc.Client, requests: object[]): Promise<{ answers: Json[]; status: grpc.StatusObject }> {
  const stream = openStream(c);
  const answers: Json[] = [];
  stream.on('data', (a: Json) => answers.push(a));
  const done = new Promise<{ answers: Json[]; status: grpc.StatusObject }>((resolve, reject) => {
    stream.on('status', (status: grpc.StatusObject) => resolve({ answers, status }));
    stream.on('error', (err: grpc.ServiceError) => (err.code === undefined ? reject(err) : undefined));
  });
  void (async () => {
    for (const r of requests) {
      if (!stream.write(r)) await new Promise((resolve) => stream.once('drain', resolve));
    }
    stream.end();
  })();
  return done;
}

const fp32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);
const rawRequest = (row: number[], id: string, extra: Json = {}) => ({
  model_name: 'iris',
  id,
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }],
  raw_input_contents: [fp32(row)],
  ...extra,
});

async function registryWithModels(): Promise<FakeRegistry> {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(71), 'classification'));
  await registry.registerVersion(pairVersionInput('pair', versionInput('pair', randomMlp(72, 4, 6, 1), 'regression')));
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

/** The JSON REST answers, in the form the gRPC client decodes the typed message to (int64 as strings). */
function asDecoded(value: unknown, int64Keys: ReadonlySet<string>, key = ''): unknown {
  if (Array.isArray(value)) return value.map((v) => asDecoded(v, int64Keys, key));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, asDecoded(v, int64Keys, k)]));
  }
  return typeof value === 'number' && int64Keys.has(key) ? String(value) : value;
}

/** The fields of `got` that `want` has (the typed message also carries the protocol's defaults). */
function pick(got: unknown, want: unknown): unknown {
  if (Array.isArray(want) && Array.isArray(got)) return got.map((g, i) => pick(g, want[i]));
  if (want !== null && typeof want === 'object' && got !== null && typeof got === 'object') {
    return Object.fromEntries(Object.keys(want).map((k) => [k, pick((got as Json)[k], (want as Json)[k])]));
  }
  return got;
}

const CONFIG_INT64 = new Set(['dims', 'versions', 'max_queue_delay_microseconds', 'default_timeout_microseconds']);
const STATS_INT64 = new Set(['count', 'ns', 'last_inference', 'inference_count', 'execution_count', 'batch_size']);

describe('gRPC ModelConfig and ModelStatistics', () => {
  let server: RunningServer;
  let c: grpc.Client;

  before(async () => {
    server = await serve(await registryWithModels());
    c = client(server.grpcAddress!);
  });
  after(async () => {
    c.close();
    await server.close();
  });

  it('ModelConfig is the typed ModelConfig of REST /config, by default version and by number', async () => {
    for (const [request, url] of [
      [{ name: 'iris', version: '' }, '/v2/models/iris/config'],
      [{ name: 'pair', version: '1' }, '/v2/models/pair/versions/1/config'],
    ] as const) {
      const want = (await rest(server, 'GET', url)).json;
      const { config } = await call(c, 'ModelConfig', request);
      assert.deepEqual(pick(config, want), asDecoded(want, CONFIG_INT64), url);
    }
    const { config } = await call(c, 'ModelConfig', { name: 'iris', version: '' });
    // What perf_analyzer reads before it sends a request: the batch size, tensors, and the scheduler.
    assert.equal(config.max_batch_size, server.app.batchingSettings.get('iris').maxBatchSize);
    assert.deepEqual(
      config.input.map((t: Json) => [t.name, t.data_type, t.dims]),
      [['input', 'TYPE_FP32', ['4']]],
    );
    assert.deepEqual(
      config.output.map((t: Json) => [t.name, t.data_type, t.dims]),
      [['probabilities', 'TYPE_FP32', ['3']]],
    );
    assert.equal(config.scheduling_choice, 'dynamic_batching');
    assert.deepEqual(config.instance_group[0], { name: 'iris_0', kind: 'KIND_CPU', count: 1, gpus: [] });
  });

  it('ModelConfig errors: the status and message REST answers with', async () => {
    const unknown = await failure(call(c, 'ModelConfig', { name: 'nope', version: '' }));
    assert.deepEqual(unknown, { code: grpc.status.NOT_FOUND, details: (await rest(server, 'GET', '/v2/models/nope/config')).json.error });
    const missing = await failure(call(c, 'ModelConfig', { name: 'iris', version: '9' }));
    assert.deepEqual(missing, {
      code: grpc.status.NOT_FOUND,
      details: (await rest(server, 'GET', '/v2/models/iris/versions/9/config')).json.error,
    });
    const bad = await failure(call(c, 'ModelConfig', { name: 'iris', version: 'latest' }));
    assert.deepEqual(bad, { code: grpc.status.INVALID_ARGUMENT, details: 'version: version must be a positive integer' });
  });

  it('ModelStatistics is REST /stats: every model, one model, one version; it moves with gRPC inferences', async () => {
    await call(c, 'ModelInfer', rawRequest(IRIS_ROWS[0], 'warm'));
    for (const [request, url] of [
      [{ name: '', version: '' }, '/v2/models/stats'],
      [{ name: 'iris', version: '' }, '/v2/models/iris/stats'],
      [{ name: 'iris', version: '1' }, '/v2/models/iris/versions/1/stats'],
    ] as const) {
      const got = await call(c, 'ModelStatistics', request);
      const want = (await rest(server, 'GET', url)).json;
      // last_inference moves only with inferences, none of which run between the two reads.
      assert.deepEqual(pick(got, want), asDecoded(want, STATS_INT64), url);
    }
    const all = await call(c, 'ModelStatistics', { name: '', version: '' });
    assert.deepEqual(
      all.model_stats.map((s: Json) => `${s.name}:${s.version}`),
      ['iris:1', 'pair:1'],
    );
    const [before] = (await call(c, 'ModelStatistics', { name: 'iris', version: '1' })).model_stats;
    await call(c, 'ModelInfer', rawRequest(IRIS_ROWS[1], 'counted'));
    const [now] = (await call(c, 'ModelStatistics', { name: 'iris', version: '1' })).model_stats;
    assert.equal(Number(now.inference_count) - Number(before.inference_count), 1);
    assert.equal(Number(now.inference_stats.success.count) - Number(before.inference_stats.success.count), 1);
    assert.ok(Number(now.inference_stats.compute_infer.ns) > Number(before.inference_stats.compute_infer.ns));
    assert.ok(now.batch_stats.some((b: Json) => b.batch_size === '1'));
  });

  it('ModelStatistics errors: unknown model NOT_FOUND as REST, a version without a name INVALID_ARGUMENT', async () => {
    const unknown = await failure(call(c, 'ModelStatistics', { name: 'nope', version: '' }));
    assert.deepEqual(unknown, { code: grpc.status.NOT_FOUND, details: (await rest(server, 'GET', '/v2/models/nope/stats')).json.error });
    const noName = await failure(call(c, 'ModelStatistics', { name: '', version: '1' }));
    assert.equal(noName.code, grpc.status.INVALID_ARGUMENT);
  });
});

describe('gRPC ModelStreamInfer', () => {
  let server: RunningServer;
  let c: grpc.Client;

  before(async () => {
    server = await serve(await registryWithModels());
    c = client(server.grpcAddress!);
  });
  after(async () => {
    c.close();
    await server.close();
  });

  it('1,000 requests with bad ones among them: each gets its answer, in order, the stream stays open', { timeout: 120_000 }, async () => {
    // Every kind of bad request, and the error its unary call gets.
    const bad: [string, (id: string) => Json][] = [
      ['unknown model', (id) => ({ ...rawRequest(IRIS_ROWS[0], id), model_name: 'nope' })],
      ['unknown version', (id) => rawRequest(IRIS_ROWS[0], id, { model_version: '9' })],
      ['short raw input', (id) => ({ ...rawRequest(IRIS_ROWS[0], id), raw_input_contents: [fp32([1, 2, 3])] })],
      ['NaN', (id) => rawRequest([1, Number.NaN, 3, 4], id)],
      ['unknown output', (id) => rawRequest(IRIS_ROWS[0], id, { outputs: [{ name: 'logits' }] })],
    ];
    const expectedError = new Map<string, { code: grpc.status; details: string }>();
    for (const [what, make] of bad) expectedError.set(what, await failure(call(c, 'ModelInfer', make('unary'))));
    assert.deepEqual(
      [...expectedError.values()].map((e) => grpc.status[e.code]),
      ['NOT_FOUND', 'NOT_FOUND', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT', 'INVALID_ARGUMENT'],
    );
    // The unary answer for every row the good requests send.
    const unary = await Promise.all(IRIS_ROWS.map((row, i) => call(c, 'ModelInfer', rawRequest(row, `u${i}`))));

    const statsBefore = (await call(c, 'ModelStatistics', { name: 'iris', version: '1' })).model_stats[0];
    const requests: Json[] = [];
    const kinds: (string | number)[] = [];
    for (let i = 0; i < 1000; i++) {
      const id = `r${i}`;
      if (i % 7 === 3) {
        const [what, make] = bad[((i / 7) % bad.length) | 0];
        requests.push(make(id));
        kinds.push(what);
      } else {
        requests.push(rawRequest(IRIS_ROWS[i % IRIS_ROWS.length], id));
        kinds.push(i % IRIS_ROWS.length);
      }
    }
    const { answers, status } = await streamAll(c, requests);
    assert.equal(status.code, grpc.status.OK, status.details);
    assert.equal(answers.length, 1000);
    let errors = 0;
    answers.forEach((a, i) => {
      assert.equal(a.infer_response.id, `r${i}`, 'answers come in request order, with their ids');
      const kind = kinds[i];
      if (typeof kind === 'string') {
        errors++;
        assert.equal(a.error_message, expectedError.get(kind)!.details, `${a.infer_response.id}: ${kind}`);
        assert.deepEqual(a.infer_response.raw_output_contents, []);
      } else {
        assert.equal(a.error_message, '', a.error_message);
        assert.equal(a.infer_response.model_name, 'iris');
        assert.equal(a.infer_response.model_version, '1');
        const want = unary[kind];
        assert.deepEqual(a.infer_response.outputs, want.outputs);
        assert.deepEqual(
          a.infer_response.raw_output_contents,
          want.raw_output_contents,
          `${a.infer_response.id}: bitwise the unary answer`,
        );
      }
    });
    assert.equal(errors, 143);

    // Counted like unary calls: statistics of the version, metrics under the stream's method.
    const statsAfter = (await call(c, 'ModelStatistics', { name: 'iris', version: '1' })).model_stats[0];
    const good = 1000 - errors;
    const howMany = (...what: string[]) => kinds.filter((k) => typeof k === 'string' && what.includes(k)).length;
    const refusedByIris = howMany('short raw input', 'NaN', 'unknown output');
    const delta = (f: (s: Json) => unknown) => Number(f(statsAfter)) - Number(f(statsBefore));
    assert.equal(
      delta((s) => s.inference_stats.success.count),
      good,
    );
    assert.equal(
      delta((s) => s.inference_stats.fail.count),
      refusedByIris,
      'a failure once the version is known',
    );
    assert.ok(delta((s) => s.execution_count) < good, 'requests of the stream were merged into batches');
    const metrics = (await server.app.inject({ method: 'GET', url: '/metrics' })).body;
    const count = (labels: string) =>
      Number(new RegExp(`bnserve_requests_total\\{route="${STREAM}",${labels}\\} (\\d+)`).exec(metrics)?.[1] ?? 0);
    assert.equal(count('model="iris",version="1",status="OK"'), good);
    assert.equal(count('model="iris",version="1",status="INVALID_ARGUMENT"'), refusedByIris);
    assert.equal(count('model="",version="",status="NOT_FOUND"'), howMany('unknown model', 'unknown version'));
  });

  it('a stream left open between requests is not cut; a request on it that stops half-way is', { timeout: 60_000 }, async () => {
    const quick = await serve(await registryWithModels(), { timeouts: { requestMs: 400, headersMs: 400 } });
    const q = client(quick.grpcAddress!);
    const session = rawConnection(quick.grpcAddress!);
    try {
      const stream = openStream(q);
      const answers: Json[] = [];
      stream.on('data', (a: Json) => answers.push(a));
      const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
      stream.write(rawRequest(IRIS_ROWS[0], 'first'));
      await new Promise((resolve) => setTimeout(resolve, 1000));
      stream.write(rawRequest(IRIS_ROWS[1], 'second'));
      stream.end();
      assert.equal((await ended).code, grpc.status.OK);
      assert.deepEqual(
        answers.map((a) => [a.infer_response.id, a.error_message]),
        [
          ['first', ''],
          ['second', ''],
        ],
      );
      // A message declared as 4 KB of which 100 bytes came: cut after the request timeout.
      const stalled = await stalledCall(session, 4096, Buffer.alloc(100), { path: STREAM, giveUpMs: 10_000 });
      assert.ok(stalled.closedByServer, 'the server closed the stream');
      assert.equal(stalled.grpcStatus, grpc.status.DEADLINE_EXCEEDED);
      assert.ok(stalled.ms < 5000, `cut after ${Math.round(stalled.ms)} ms`);
    } finally {
      session.destroy();
      q.close();
      await quick.close();
    }
  });
});

describe('gRPC ModelStreamInfer limits', () => {
  /** A gRPC server with the given stream limits over a startServer's data plane, iris waiting for company. */
  async function limitedServer(streamLimits: { maxInFlight?: number; maxInFlightBytes?: number }) {
    const server = await serve(await registryWithModels(), {
      grpcPort: null,
      // A lone request waits 300 ms for company: what is in flight shows up as queued requests.
      modelBatching: { iris: { maxQueueDelayMicroseconds: 300_000 } },
    });
    const endpoint = await startGrpcServer(server.app.dataPlane, '127.0.0.1', 0, { streamLimits });
    return { server, endpoint };
  }

  for (const [what, limits, bound] of [
    ['4 requests', { maxInFlight: 4 }, 4],
    ['the bytes of 1 request', { maxInFlightBytes: 1 }, 1],
  ] as const) {
    it(`a stream has at most ${what} in flight; the rest waits in the client (flow control)`, { timeout: 60_000 }, async () => {
      const { server, endpoint } = await limitedServer(limits);
      const c = client(endpoint.address);
      try {
        const [version] = server.app.models.loadedVersions();
        let most = 0;
        const watch = setInterval(() => {
          most = Math.max(most, version.queuedRequests);
        }, 2);
        const requests = Array.from({ length: 12 }, (_, i) => rawRequest(IRIS_ROWS[i % IRIS_ROWS.length], `l${i}`));
        const { answers, status } = await streamAll(c, requests);
        clearInterval(watch);
        assert.equal(status.code, grpc.status.OK);
        assert.deepEqual(
          answers.map((a) => a.infer_response.id),
          requests.map((r) => r.id),
        );
        assert.equal(most, bound, `at most ${bound} queued at once`);
      } finally {
        c.close();
        await endpoint.drain(1000);
        await server.close();
      }
    });
  }

  it('a stream the client cancels with requests in flight leaves nothing behind', { timeout: 60_000 }, async () => {
    const { server, endpoint } = await limitedServer({});
    const c = client(endpoint.address);
    try {
      const stream = openStream(c);
      stream.on('error', () => {});
      stream.on('data', () => {});
      for (let i = 0; i < 8; i++) stream.write(rawRequest(IRIS_ROWS[i % IRIS_ROWS.length], `c${i}`));
      const [version] = server.app.models.loadedVersions();
      while (version.queuedRequests === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      stream.cancel();
      while (version.inflightRequests > 0) await new Promise((resolve) => setTimeout(resolve, 5));
      const answer = await call(c, 'ModelInfer', rawRequest(IRIS_ROWS[0], 'after'));
      assert.equal(answer.id, 'after');
      assert.equal((await endpoint.drain(20_000)).forced, false, 'no stream was left open');
    } finally {
      c.close();
      await server.close();
    }
  });

  it('shutdown: an open stream answers what it has read, then ends UNAVAILABLE, without holding the drain', {
    timeout: 60_000,
  }, async () => {
    const { server, endpoint } = await limitedServer({});
    const c = client(endpoint.address);
    try {
      const stream = openStream(c);
      const answers: Json[] = [];
      stream.on('data', (a: Json) => answers.push(a));
      stream.on('error', () => {});
      const ended = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
      stream.write(rawRequest(IRIS_ROWS[0], 'in-flight'));
      const [version] = server.app.models.loadedVersions();
      while (version.queuedRequests === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      const started = performance.now();
      const drained = await endpoint.drain(20_000);
      assert.equal(drained.forced, false, 'the stream ended by itself');
      assert.ok(performance.now() - started < 5000);
      const status = await ended;
      assert.equal(status.code, grpc.status.UNAVAILABLE);
      assert.match(status.details, /shutting down/);
      assert.deepEqual(
        answers.map((a) => [a.infer_response.id, a.error_message]),
        [['in-flight', '']],
      );
    } finally {
      c.close();
      await server.close();
    }
  });
});

describe('gRPC repository RPCs', () => {
  let server: RunningServer;
  let c: grpc.Client;
  const bearer = `Bearer ${TOKEN}`;

  before(async () => {
    server = await serve(await registryWithModels());
    c = client(server.grpcAddress!);
  });
  after(async () => {
    c.close();
    await server.close();
  });

  it('need the admin token in the metadata: UNAUTHENTICATED without it or with another', async () => {
    for (const [method, request] of [
      ['RepositoryIndex', {}],
      ['RepositoryModelLoad', { model_name: 'iris' }],
      ['RepositoryModelUnload', { model_name: 'iris' }],
    ] as const) {
      for (const authorization of [undefined, 'Bearer wrong', TOKEN]) {
        const refused = await failure(call(c, method, request, authorization));
        assert.equal(refused.code, grpc.status.UNAUTHENTICATED, `${method} with ${authorization}`);
        assert.match(refused.details, /authorization: Bearer \$BNSERVE_ADMIN_TOKEN/);
      }
    }
    assert.deepEqual(await call(c, 'ModelReady', { name: 'iris', version: '' }), { ready: true }, 'nothing was unloaded');
  });

  it('PERMISSION_DENIED on a server without BNSERVE_ADMIN_TOKEN, which does not list model_repository', async () => {
    const open = await serve(await registryWithModels(), { adminToken: undefined });
    const o = client(open.grpcAddress!);
    try {
      const refused = await failure(call(o, 'RepositoryIndex', {}, bearer));
      assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
      assert.match(refused.details, /set BNSERVE_ADMIN_TOKEN/);
      assert.deepEqual((await call(o, 'ServerMetadata', {})).extensions, ['model_configuration', 'statistics']);
    } finally {
      o.close();
      await open.close();
    }
  });

  it('RepositoryIndex is REST /v2/repository/index; ready: true keeps the ready versions', async () => {
    const want = await rest(server, 'POST', '/v2/repository/index', {}, { authorization: bearer });
    assert.equal(want.status, 200);
    assert.deepEqual((await call(c, 'RepositoryIndex', {}, bearer)).models, want.json);
    assert.deepEqual((await call(c, 'RepositoryIndex', { ready: true }, bearer)).models, want.json);
    const other = await failure(call(c, 'RepositoryIndex', { repository_name: 'elsewhere' }, bearer));
    assert.equal(other.code, grpc.status.INVALID_ARGUMENT);
  });

  it('RepositoryModelUnload stops serving a model, RepositoryModelLoad brings it back', async () => {
    const infer = { model_name: 'pair', inputs: [{ name: 'a', datatype: 'FP32', shape: [1, 2], contents: { fp32_contents: [1, 2] } }] };
    assert.deepEqual(await call(c, 'RepositoryModelUnload', { model_name: 'pair' }, bearer), {});
    const gone = await failure(call(c, 'ModelInfer', infer));
    assert.equal(gone.code, grpc.status.NOT_FOUND);
    const index = (await call(c, 'RepositoryIndex', {}, bearer)).models as Json[];
    assert.deepEqual(
      index.filter((m) => m.name === 'pair'),
      [{ name: 'pair', version: '', state: 'UNAVAILABLE', reason: 'unloaded' }],
    );
    assert.deepEqual(
      ((await call(c, 'RepositoryIndex', { ready: true }, bearer)).models as Json[]).map((m) => m.name),
      ['iris'],
    );
    assert.deepEqual(await call(c, 'RepositoryModelLoad', { model_name: 'pair' }, bearer), {});
    assert.deepEqual(await call(c, 'ModelReady', { name: 'pair', version: '' }), { ready: true });
  });

  it('RepositoryModelLoad refuses config and file overrides and unknown models, as REST does', async () => {
    const overridden = await failure(
      call(c, 'RepositoryModelLoad', { model_name: 'iris', parameters: { config: { string_param: '{}' } } }, bearer),
    );
    assert.equal(overridden.code, grpc.status.INVALID_ARGUMENT);
    assert.match(overridden.details, /parameters\["config"\] is not supported/);
    const files = await failure(
      call(
        c,
        'RepositoryModelLoad',
        { model_name: 'iris', parameters: { 'file:1/model.onnx': { bytes_param: Buffer.from('x') } } },
        bearer,
      ),
    );
    assert.match(files.details, /parameters\["file:1\/model\.onnx"\] is not supported/);
    const unknown = await failure(call(c, 'RepositoryModelLoad', { model_name: 'nope' }, bearer));
    const want = await rest(server, 'POST', '/v2/repository/models/nope/load', {}, { authorization: bearer });
    assert.deepEqual(unknown, { code: grpc.status.NOT_FOUND, details: want.json.error });
    assert.equal(want.status, 404);
  });
});
