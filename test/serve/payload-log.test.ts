// Payload logging: sampled exchanges as CloudEvents to a file or an HTTP endpoint, off the request
// path: a stalled sink drops (counted) and never holds up inference.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { cloudEvents, FileSink, type PayloadLogOptions, REQUEST_EVENT, RESPONSE_EVENT } from '../../src/serve/dataplane/payload-log.ts';
import * as grpc from '@grpc/grpc-js';
import { InferenceClient } from '../../faults/harness/grpc-client.ts';
import { buildApp, startServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, randomMlp, versionInput } from './fixtures.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'bnserve-payload-log-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function appWith(payloadLog: Partial<PayloadLogOptions> & { target: string }): Promise<FastifyInstance> {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(3), 'classification'));
  const app = await buildApp({
    registry,
    env: {},
    providers: ['cpu'],
    refreshIntervalMs: 0,
    payloadLog: { sample: 1, models: null, queueSize: 100, maxFileBytes: 1 << 30, ...payloadLog },
  });
  await app.ready();
  return app;
}

const infer = (app: FastifyInstance, row: number[], id = 'req-1') =>
  app.inject({
    method: 'POST',
    url: '/v2/models/iris/infer',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    payload: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row }] }),
  });
const predict = (app: FastifyInstance, row: number[]) =>
  app.inject({
    method: 'POST',
    url: '/v1/models/iris:predict',
    headers: { 'content-type': 'application/json', 'x-request-id': 'req-2' },
    payload: JSON.stringify({ instances: [row] }),
  });
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

describe('payload log to a file', () => {
  it('writes each exchange as a request and a response CloudEvent with the request id, inputs and outputs', async () => {
    const file = path.join(dir, 'payloads.jsonl');
    const app = await appWith({ target: file });
    const answer = (await infer(app, IRIS_ROWS[0])).json();
    const predicted = (await predict(app, IRIS_ROWS[1])).json();
    await app.close();
    const events = lines(file);
    assert.deepEqual(
      events.map((e) => [e.type, e.id, e.specversion, e.inferenceservicename, e.modelversion]),
      [
        [REQUEST_EVENT, 'req-1-request', '1.0', 'iris', '1'],
        [RESPONSE_EVENT, 'req-1-response', '1.0', 'iris', '1'],
        [REQUEST_EVENT, 'req-2-request', '1.0', 'iris', '1'],
        [RESPONSE_EVENT, 'req-2-response', '1.0', 'iris', '1'],
      ],
    );
    assert.deepEqual(events[0].data.inputs[0], { name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0].map(Math.fround) });
    assert.deepEqual(events[1].data.outputs[0].data, answer.outputs[0].data);
    assert.deepEqual(events[2].data, { instances: [IRIS_ROWS[1]] });
    assert.deepEqual(events[3].data.predictions, predicted.predictions);
  });

  it('logs only the sampled share and the listed models', async () => {
    const none = path.join(dir, 'none.jsonl');
    const app = await appWith({ target: none, sample: 0 });
    const other = path.join(dir, 'other.jsonl');
    const app2 = await appWith({ target: other, models: ['mnist'] });
    await infer(app, IRIS_ROWS[0]);
    await infer(app2, IRIS_ROWS[0]);
    await app.close();
    await app2.close();
    assert.equal(existsSync(none), false);
    assert.equal(existsSync(other), false);
  });

  /** One event as the logger writes it, for exchange i. */
  const event = (i: number) =>
    cloudEvents({ model: 'iris', version: 1, requestId: `r${i}`, request: { i }, response: { pad: 'x'.repeat(40) } }, 'bnserve/test')[0];

  it('starts a new file past its size, keeping the previous one as <file>.1', async () => {
    const file = path.join(dir, 'rotating.jsonl');
    const sink = new FileSink(file, 400);
    for (let i = 0; i < 8; i++) await sink.write(event(i));
    await sink.close();
    assert.ok(existsSync(`${file}.1`));
    assert.ok(readFileSync(file, 'utf8').length <= 400);
    assert.equal(lines(file).at(-1).data.i, 7);
    assert.equal(lines(`${file}.1`)[0].type, REQUEST_EVENT);
  });

  it('never appends to, or replaces, a file that is not a payload log', async () => {
    const theirs = path.join(dir, 'notes.txt');
    writeFileSync(theirs, 'someone else’s notes\n');
    const sink = new FileSink(theirs, 400);
    await assert.rejects(sink.write(event(0)), /notes\.txt is not a payload log bnserve wrote; nothing is appended to it/);
    await sink.close();
    assert.equal(readFileSync(theirs, 'utf8'), 'someone else’s notes\n');

    const file = path.join(dir, 'log.jsonl');
    writeFileSync(`${file}.1`, 'an older file the user keeps\n');
    const rotating = new FileSink(file, 400);
    await rotating.write(event(0));
    await assert.rejects(
      (async () => {
        for (let i = 1; i < 8; i++) await rotating.write(event(i));
      })(),
      /log\.jsonl\.1 is not a payload log bnserve wrote; it is left as it is/,
    );
    await rotating.close();
    assert.equal(readFileSync(`${file}.1`, 'utf8'), 'an older file the user keeps\n');
    assert.equal(lines(file)[0].id, 'r0-request');
  });
});

describe('payload log over gRPC', () => {
  it("names a ModelInfer exchange by the request's own id", async () => {
    const file = path.join(dir, 'grpc.jsonl');
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(3), 'classification'));
    const server = await startServer({
      registry,
      env: {},
      host: '127.0.0.1',
      port: 0,
      providers: ['cpu'],
      logger: false,
      refreshIntervalMs: 0,
      payloadLog: { target: file, sample: 1, models: null, queueSize: 100, maxFileBytes: 1 << 30 },
    });
    const client = new InferenceClient(server.grpcAddress!, grpc.credentials.createInsecure());
    try {
      const request = {
        id: 'grpc-7',
        model_name: 'iris',
        inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: IRIS_ROWS[0] } }],
      };
      await new Promise<void>((resolve, reject) =>
        (client as unknown as Record<string, (r: object, cb: (err: Error | null) => void) => void>).ModelInfer(request, (err) =>
          err ? reject(err) : resolve(),
        ),
      );
    } finally {
      client.close();
      await server.close();
    }
    assert.deepEqual(
      lines(file).map((e) => e.id),
      ['grpc-7-request', 'grpc-7-response'],
    );
  });
});

describe('payload log to a stalled HTTP endpoint', () => {
  let stalled: Server;
  let url: string;
  before(async () => {
    stalled = createServer(() => {}); // reads nothing, answers never
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(stalled.address() as { port: number }).port}/events`;
  });
  after(() => {
    stalled.closeAllConnections();
    stalled.close();
  });

  it('inference answers as usual; what the queue cannot hold is dropped and counted', async () => {
    const app = await appWith({ target: url, queueSize: 2 });
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => infer(app, IRIS_ROWS[i % IRIS_ROWS.length], `r${i}`)));
      assert.deepEqual(new Set(answers.map((a) => a.statusCode)), new Set([200]));
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      const dropped = Number(/bnserve_payload_log_dropped_total\{reason="queue_full"\} (\d+)/.exec(metrics)?.[1] ?? 0);
      assert.ok(dropped >= 17, `dropped ${dropped} of 20 (one in flight, two queued)`);
    } finally {
      await app.close();
    }
  });
});
