// OpenTelemetry tracing of the server, exported for real (OTLP/HTTP, http/json and http/protobuf) to
// an in-process collector endpoint: the span tree of a request (server span → queue wait, batch →
// onnxruntime run, response encoding), the caller's traceparent continued over REST and gRPC
// metadata, batch spans in every batched request's trace, error statuses, and the request log's
// trace_id. Tracing off (the default) loads no SDK and exports nothing: tracing-off.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { startTracing, type Tracing } from '../../src/tracing/tracing.ts';
import { serveLoggerOptions } from '../../src/serve/http/request-log.ts';
import { type RunningServer, startServer } from '../../src/serve/index.ts';
import { InferenceClient } from '../../faults/harness/grpc-client.ts';
import { FakeRegistry } from './fake-registry.ts';
import onnxProto from 'onnx-proto';
import type { RegisterVersionInput } from '../../src/registry/types.ts';
import { IRIS_ROWS, randomMlp, versionInput } from './fixtures.ts';
import { type ExportedSpan, type OtlpSink, startOtlpSink } from './otlp-sink.ts';

type Json = Record<string, any>;

const { onnx } = onnxProto;

/** input [batch, n] + [1, 2, 3]: loads and warms up (n = 1), but onnxruntime refuses n = 2 at run time. */
function broadcastVersion(name: string): RegisterVersionInput {
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const info = (n: string, dims: string[]) =>
    onnx.ValueInfoProto.create({ name: n, type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => ({ dimParam: d })) } } } });
  const graph = onnx.GraphProto.create({
    name: 'broadcast',
    node: [onnx.NodeProto.create({ opType: 'Add', input: ['input', 'c'], output: ['out'], name: 'add' })],
    initializer: [onnx.TensorProto.create({ name: 'c', dims: [3], dataType: FLOAT, floatData: [1, 2, 3] })],
    input: [info('input', ['batch', 'n'])],
    output: [info('out', ['batch', 'm'])],
  });
  const artifact = onnx.ModelProto.encode(
    onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph }),
  ).finish();
  return {
    ...versionInput(name, randomMlp(8), 'regression'),
    artifact,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, -1] }],
    outputs: [{ name: 'out', datatype: 'FP32', shape: [-1, -1] }],
    featureNames: [],
  };
}

const SERVER = 2; // OTLP SpanKind: SPAN_KIND_SERVER
const ERROR = 2;
const UNSET = 0;

let counter = 0;
/** A fresh caller context: a random-looking trace id and parent span id, sampled. */
function callerContext(sampled = true) {
  counter++;
  const traceId = `4bf92f3577b34da6a3ce929d${String(counter).padStart(8, '0')}`;
  const parentId = `00f067aa${String(counter).padStart(8, '0')}`;
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-${sampled ? '01' : '00'}` };
}

const tracingEnv = (sink: OtlpSink, protocol: 'http/json' | 'http/protobuf') => ({
  OTEL_TRACES_EXPORTER: 'otlp',
  OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
  OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
  OTEL_SERVICE_NAME: 'bnserve-under-test',
});

/** The spans of one trace, and lookups by name and by parent. */
function traceOf(sink: OtlpSink, traceId: string) {
  const spans = sink.spans.filter((s) => s.traceId === traceId);
  const named = (name: string) => spans.filter((s) => s.name === name);
  const one = (name: string): ExportedSpan => {
    const found = named(name);
    assert.equal(found.length, 1, `one ${name} span in ${JSON.stringify(spans.map((s) => s.name))}`);
    return found[0];
  };
  return { spans, named, one };
}

const fp32 = (values: number[]) => Buffer.from(new Float32Array(values).buffer);

function grpcUnary(address: string, method: string, request: object, metadata: grpc.Metadata): Promise<Json> {
  const client = new InferenceClient(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    (client as any)[method](request, metadata, { deadline: Date.now() + 60_000 }, (err: grpc.ServiceError | null, res: Json) => {
      client.close();
      if (err) reject(err);
      else resolve(res);
    });
  });
}

function grpcStream(address: string, requests: object[], metadata: grpc.Metadata): Promise<Json[]> {
  const client = new InferenceClient(address, grpc.credentials.createInsecure());
  const stream = (client as any).ModelStreamInfer(metadata) as grpc.ClientDuplexStream<object, Json>;
  const answers: Json[] = [];
  stream.on('data', (a: Json) => answers.push(a));
  return new Promise((resolve, reject) => {
    stream.on('status', () => {
      client.close();
      resolve(answers);
    });
    stream.on('error', (err: grpc.ServiceError) => (err.code === grpc.status.OK ? undefined : reject(err)));
    for (const r of requests) stream.write(r);
    stream.end();
  });
}

describe('tracing a server (OTLP http/json)', () => {
  let sink: OtlpSink;
  let tracing: Tracing;
  let server: RunningServer;
  const lines: Json[] = [];

  before(async () => {
    sink = await startOtlpSink();
    tracing = await startTracing(tracingEnv(sink, 'http/json'));
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(5), 'classification'));
    // iris3 waits for three rows (up to 5 s): three concurrent one-row requests make one batch.
    await registry.registerVersion(versionInput('iris3', randomMlp(6), 'classification'));
    await registry.registerVersion(broadcastVersion('broadcast'));
    server = await startServer({
      registry,
      env: {},
      host: '127.0.0.1',
      port: 0,
      grpcPort: 0,
      providers: ['cpu'],
      refreshIntervalMs: 0,
      modelBatching: { iris3: { maxBatchSize: 3, maxQueueDelayMicroseconds: 5_000_000 } },
      logger: serveLoggerOptions('info', { write: (line: string) => lines.push(JSON.parse(line)) }),
    });
    await server.app.dataPlane.start();
  });

  after(async () => {
    await server?.close();
    await tracing?.shutdown();
    await sink?.close();
  });

  const infer = (model: string, traceparent: string | undefined, body: Json) =>
    server.app.inject({
      method: 'POST',
      url: `/v2/models/${model}/infer`,
      headers: { 'content-type': 'application/json', ...(traceparent ? { traceparent } : {}) },
      payload: JSON.stringify(body),
    });
  const irisBody = (rows: number[][]) => ({ inputs: [{ name: 'input', shape: [rows.length, 4], datatype: 'FP32', data: rows.flat() }] });

  it('continues a REST traceparent: server span → queue wait, batch → onnxruntime run, response encoding', async () => {
    const caller = callerContext();
    const r = await infer('iris', caller.traceparent, irisBody(IRIS_ROWS.slice(0, 2)));
    assert.equal(r.statusCode, 200);
    await tracing.flush();

    const t = traceOf(sink, caller.traceId);
    const root = t.one('POST /v2/models/:model/infer');
    assert.equal(root.parentSpanId, caller.parentId, "the server span's parent is the caller's span");
    assert.equal(root.kind, SERVER);
    assert.equal(root.service, 'bnserve-under-test');
    assert.deepEqual(
      {
        model: root.attributes['bnserve.model.name'],
        version: root.attributes['bnserve.model.version'],
        rows: root.attributes['bnserve.rows'],
        protocol: root.attributes['bnserve.protocol'],
        status: root.attributes['http.response.status_code'],
        route: root.attributes['http.route'],
      },
      { model: 'iris', version: 1, rows: 2, protocol: 'http', status: 200, route: '/v2/models/:model/infer' },
    );
    const wait = t.one('bnserve.queue_wait');
    const batch = t.one('bnserve.batch');
    const run = t.one('onnxruntime.run');
    const encode = t.one('bnserve.encode_response');
    assert.equal(wait.parentSpanId, root.spanId);
    assert.equal(batch.parentSpanId, root.spanId);
    assert.equal(run.parentSpanId, batch.spanId);
    assert.equal(encode.parentSpanId, root.spanId);
    assert.equal(wait.attributes['bnserve.rows'], 2);
    assert.equal(run.attributes['bnserve.batch.size'], 2);
    assert.deepEqual([batch.attributes['bnserve.batch.size'], batch.attributes['bnserve.batch.requests']], [2, 1]);
    // In order: the wait ends where the batch starts; the run lies within the batch; encoding after the run.
    assert.ok(wait.endNs <= batch.startNs + 1000n && batch.startNs <= run.startNs && run.endNs <= batch.endNs, 'times nest');
    assert.ok(encode.startNs >= run.endNs && encode.endNs <= root.endNs);
    assert.equal(t.spans.length, 5, 'nothing else in the trace');
    for (const s of t.spans) assert.equal(s.statusCode, UNSET, `${s.name} succeeded`);
  });

  it('writes the trace id and server span id in the request log line', async () => {
    const caller = callerContext();
    const r = await infer('iris', caller.traceparent, irisBody([IRIS_ROWS[0]]));
    assert.equal(r.statusCode, 200);
    await tracing.flush();
    const root = traceOf(sink, caller.traceId).one('POST /v2/models/:model/infer');
    const line = lines.find((l) => l.msg === 'request' && l.reqId === r.headers['x-request-id']);
    assert.ok(line, 'the request was logged');
    assert.equal(line.trace_id, caller.traceId);
    assert.equal(line.span_id, root.spanId);
  });

  it('starts a new trace without a traceparent, and records nothing for a caller that did not sample', async () => {
    const before = sink.spans.length;
    const fresh = await server.app.inject({
      method: 'POST',
      url: '/v1/models/iris:predict',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ instances: [IRIS_ROWS[0], IRIS_ROWS[1], IRIS_ROWS[2]] }),
    });
    assert.equal(fresh.statusCode, 200);
    await tracing.flush();
    const roots = sink.spans.slice(before).filter((s) => s.name === 'POST /v1/models/:model(^[^:/]+)::predict');
    assert.equal(roots.length, 1);
    assert.equal(roots[0].parentSpanId, '', 'a root span');
    assert.equal(roots[0].attributes['bnserve.rows'], 3);
    const names = sink.spans.filter((s) => s.traceId === roots[0].traceId).map((s) => s.name);
    assert.deepEqual(
      names.sort(),
      [
        'POST /v1/models/:model(^[^:/]+)::predict',
        'bnserve.batch',
        'bnserve.encode_response',
        'bnserve.queue_wait',
        'onnxruntime.run',
      ].sort(),
    );

    const unsampled = callerContext(false);
    const r = await infer('iris', unsampled.traceparent, irisBody([IRIS_ROWS[0]]));
    assert.equal(r.statusCode, 200);
    await tracing.flush();
    assert.equal(traceOf(sink, unsampled.traceId).spans.length, 0, 'parent-based sampling follows the caller');
    const line = lines.find((l) => l.reqId === r.headers['x-request-id']);
    assert.equal(line?.trace_id, undefined, 'no trace id for a trace that is not recorded');
  });

  it('puts the one run of a batch in the trace of each request it served', async () => {
    const callers = [callerContext(), callerContext(), callerContext()];
    const answers = await Promise.all(callers.map((c, i) => infer('iris3', c.traceparent, irisBody([IRIS_ROWS[i]]))));
    assert.deepEqual(
      answers.map((a) => a.statusCode),
      [200, 200, 200],
    );
    await tracing.flush();
    const runs = callers.map((c) => {
      const t = traceOf(sink, c.traceId);
      const batch = t.one('bnserve.batch');
      const run = t.one('onnxruntime.run');
      assert.equal(run.parentSpanId, batch.spanId);
      assert.equal(batch.parentSpanId, t.one('POST /v2/models/:model/infer').spanId);
      assert.deepEqual([batch.attributes['bnserve.batch.size'], batch.attributes['bnserve.batch.requests']], [3, 3]);
      return run;
    });
    assert.equal(new Set(runs.map((r) => `${r.startNs}-${r.endNs}`)).size, 1, 'the same run (same times) in every trace');
  });

  it('sets error statuses: a failed run (the caller’s 400 keeps the server span unset), a queue timeout (503)', async () => {
    const caller = callerContext();
    const bad = await infer('broadcast', caller.traceparent, {
      inputs: [{ name: 'input', shape: [1, 2], datatype: 'FP32', data: [1, 2] }],
    });
    assert.equal(bad.statusCode, 400, bad.body);
    const timedOut = callerContext();
    // iris3 waits for three rows: a lone request with a 1 ms queue timeout is dropped from the queue.
    const late = await infer('iris3', timedOut.traceparent, { ...irisBody([IRIS_ROWS[0]]), parameters: { timeout: 1000 } });
    assert.equal(late.statusCode, 503);
    await tracing.flush();

    const failed = traceOf(sink, caller.traceId);
    assert.equal(failed.one('onnxruntime.run').statusCode, ERROR);
    assert.equal(failed.one('bnserve.batch').statusCode, ERROR);
    const root = failed.one('POST /v2/models/:model/infer');
    assert.equal(root.statusCode, UNSET);
    assert.equal(root.attributes['http.response.status_code'], 400);
    assert.equal(failed.named('bnserve.encode_response').length, 0, 'an error body is not a response encoding');

    const t = traceOf(sink, timedOut.traceId);
    assert.equal(t.one('bnserve.queue_wait').statusCode, ERROR);
    assert.match(t.one('bnserve.queue_wait').statusMessage, /queue timeout/);
    const lateRoot = t.one('POST /v2/models/:model/infer');
    assert.equal(lateRoot.statusCode, ERROR);
    assert.match(lateRoot.statusMessage, /queue timeout/);
    assert.equal(t.named('onnxruntime.run').length, 0, 'it never ran');
  });

  it('continues a traceparent sent in gRPC metadata, for ModelInfer and each request of a stream', async () => {
    const caller = callerContext();
    const metadata = new grpc.Metadata();
    metadata.set('traceparent', caller.traceparent);
    const request = (id: string) => ({
      model_name: 'iris',
      id,
      inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }],
      raw_input_contents: [fp32(IRIS_ROWS[0])],
    });
    const answer = await grpcUnary(server.grpcAddress!, 'ModelInfer', request('unary'), metadata);
    assert.equal(answer.model_name, 'iris');
    await tracing.flush();
    const t = traceOf(sink, caller.traceId);
    const root = t.one('inference.GRPCInferenceService/ModelInfer');
    assert.equal(root.parentSpanId, caller.parentId);
    assert.equal(root.kind, SERVER);
    assert.deepEqual(
      [
        root.attributes['bnserve.protocol'],
        root.attributes['rpc.system'],
        root.attributes['rpc.method'],
        root.attributes['rpc.grpc.status_code'],
      ],
      ['grpc', 'grpc', 'ModelInfer', 0],
    );
    assert.deepEqual(
      [root.attributes['bnserve.model.name'], root.attributes['bnserve.model.version'], root.attributes['bnserve.rows']],
      ['iris', 1, 1],
    );
    for (const name of ['bnserve.queue_wait', 'bnserve.batch', 'bnserve.encode_response'])
      assert.equal(t.one(name).parentSpanId, root.spanId, name);
    assert.equal(t.one('onnxruntime.run').parentSpanId, t.one('bnserve.batch').spanId);
    const line = lines.find((l) => l.rpc === '/inference.GRPCInferenceService/ModelInfer' && l.trace_id === caller.traceId);
    assert.equal(line?.span_id, root.spanId, 'the gRPC request line carries the trace too');

    const streamCaller = callerContext();
    const streamMetadata = new grpc.Metadata();
    streamMetadata.set('traceparent', streamCaller.traceparent);
    const answers = await grpcStream(server.grpcAddress!, [request('s1'), request('s2')], streamMetadata);
    assert.deepEqual(
      answers.map((a) => a.error_message),
      ['', ''],
    );
    await tracing.flush();
    const streamed = traceOf(sink, streamCaller.traceId).named('inference.GRPCInferenceService/ModelStreamInfer');
    assert.equal(streamed.length, 2, 'one server span per request of the stream');
    for (const s of streamed) assert.equal(s.parentSpanId, streamCaller.parentId);
  });

  it('does not trace health probes and metadata reads', async () => {
    const caller = callerContext();
    for (const url of ['/v2/health/ready', '/v2/models/iris', '/metrics']) {
      const r = await server.app.inject({ method: 'GET', url, headers: { traceparent: caller.traceparent } });
      assert.equal(r.statusCode, 200, url);
    }
    await tracing.flush();
    assert.equal(traceOf(sink, caller.traceId).spans.length, 0);
  });
});

describe('tracing a server (OTLP http/protobuf)', () => {
  it('exports the same tree as protobuf', async () => {
    const sink = await startOtlpSink();
    const tracing = await startTracing(tracingEnv(sink, 'http/protobuf'));
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(5), 'classification'));
    const server = await startServer({
      registry,
      env: {},
      host: '127.0.0.1',
      port: 0,
      grpcPort: null,
      providers: ['cpu'],
      refreshIntervalMs: 0,
      logger: false,
    });
    try {
      await server.app.dataPlane.start();
      const caller = callerContext();
      const r = await server.app.inject({
        method: 'POST',
        url: '/v1/models/iris:predict',
        headers: { 'content-type': 'application/json', traceparent: caller.traceparent },
        payload: JSON.stringify({ instances: [IRIS_ROWS[0]] }),
      });
      assert.equal(r.statusCode, 200);
      await tracing.flush();
      assert.ok(sink.contentTypes.length > 0 && sink.contentTypes.every((t) => t === 'application/x-protobuf'), sink.contentTypes.join());
      const t = traceOf(sink, caller.traceId);
      const root = t.one('POST /v1/models/:model(^[^:/]+)::predict');
      assert.equal(root.parentSpanId, caller.parentId);
      assert.equal(root.service, 'bnserve-under-test');
      assert.equal(root.attributes['bnserve.model.name'], 'iris');
      assert.equal(t.one('onnxruntime.run').attributes['bnserve.batch.size'], 1);
      assert.equal(t.one('onnxruntime.run').parentSpanId, t.one('bnserve.batch').spanId);
      assert.equal(t.one('bnserve.queue_wait').parentSpanId, root.spanId);
    } finally {
      await server.close();
      await tracing.shutdown();
      await sink.close();
    }
  });
});
