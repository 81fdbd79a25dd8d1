// What a gRPC client may hold while its request is arriving (issue 22): streams per connection and
// session memory as set, a request cut when it has not arrived within the request timeout, a
// server-wide budget for requests still arriving, and small calls answered while it is full.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { serveConfigFromEnv } from '../../src/serve/config.ts';
import { guardRequest, IncompleteRequestBudget } from '../../src/serve/grpc/incomplete-requests.ts';
import { MessageFraming } from '../../src/serve/grpc/message-framing.ts';
import { grpcServerOptions } from '../../src/serve/grpc/server.ts';
import { type RunningServer, type StartServerOptions, startServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';
import { modelInfer, rawConnection, stalledCall } from './grpc-test-calls.ts';

async function irisServer(extra: Partial<StartServerOptions> = {}): Promise<RunningServer> {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(61), 'classification'));
  return startServer({
    registry,
    env: {},
    host: '127.0.0.1',
    port: 0,
    grpcPort: 0,
    providers: ['cpu'],
    logger: false,
    refreshIntervalMs: 0,
    ...extra,
  });
}

describe('gRPC connection limits', () => {
  it('the server advertises BNSERVE_GRPC_MAX_CONCURRENT_STREAMS as SETTINGS_MAX_CONCURRENT_STREAMS (default 32)', async () => {
    for (const [env, expected] of [[{}, 32] as const, [{ BNSERVE_GRPC_MAX_CONCURRENT_STREAMS: '7' }, 7] as const]) {
      const server = await irisServer({ env });
      const session = rawConnection(server.grpcAddress!);
      try {
        const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
        assert.equal(settings.maxConcurrentStreams, expected);
      } finally {
        session.destroy();
        await server.close();
      }
    }
  });

  it('the gRPC server is given the stream, session memory and message limits of the settings', () => {
    const config = serveConfigFromEnv({
      BNSERVE_GRPC_MAX_CONCURRENT_STREAMS: '9',
      BNSERVE_GRPC_MAX_SESSION_MEMORY_MB: '3',
      BNSERVE_BODY_LIMIT_BYTES: '65536',
    });
    const options = grpcServerOptions(config);
    assert.equal(options['grpc.max_concurrent_streams'], 9);
    assert.equal(options['grpc-node.max_session_memory'], 3);
    assert.equal(options['grpc.max_receive_message_length'], 65536);
    assert.equal(options.interceptors?.length, 1);
  });
});

describe('a gRPC request that does not arrive within BNSERVE_REQUEST_TIMEOUT_MS', () => {
  let server: RunningServer;
  before(async () => {
    server = await irisServer({ timeouts: { headersMs: 500, requestMs: 1000 } });
  });
  after(() => server.close());

  it('is answered DEADLINE_EXCEEDED and its stream reset: a message stalled halfway, one never ended, one never started', async () => {
    const session = rawConnection(server.grpcAddress!);
    try {
      const giveUpMs = 10_000;
      const ends = await Promise.all([
        stalledCall(session, 100_000, Buffer.alloc(60_000), { giveUpMs }),
        stalledCall(session, 1000, Buffer.alloc(1000), { giveUpMs }), // whole message, END_STREAM never sent
        stalledCall(session, 100_000, Buffer.alloc(0), { giveUpMs }),
      ]);
      for (const end of ends) {
        assert.ok(end.closedByServer, `the server left the call open for ${giveUpMs} ms`);
        assert.equal(end.grpcStatus, grpc.status.DEADLINE_EXCEEDED, JSON.stringify(end));
        assert.equal(end.rstCode, http2.constants.NGHTTP2_NO_ERROR);
        assert.ok(end.ms >= 900, `cut after ${end.ms} ms`);
      }
      assert.equal(await modelInfer(server.grpcAddress!, 3), grpc.status.OK, 'the server still answers');
    } finally {
      session.destroy();
    }
  });
});

describe('the server-wide budget for gRPC requests still arriving', () => {
  let server: RunningServer;
  before(async () => {
    // Budget: 8 × 1 MiB; the timeout is long, so that only the budget cuts calls here.
    server = await irisServer({ limits: { bodyLimit: 1 << 20, maxRows: 100_000 }, timeouts: { headersMs: 10_000, requestMs: 60_000 } });
  });
  after(() => server.close());

  it('answers RESOURCE_EXHAUSTED to the calls past it, answers small calls meanwhile, and is free again once the stalled calls go', async () => {
    const attacker = rawConnection(server.grpcAddress!);
    const payload = Buffer.alloc(600_000);
    const calls = Array.from({ length: 30 }, () => stalledCall(attacker, 800_000, payload, { giveUpMs: 20_000 }));
    try {
      const refused = await Promise.race([
        Promise.all(calls).then(() => 'all calls ended'),
        new Promise<string>((resolve) => setTimeout(() => resolve('some still held'), 3000)),
      ]);
      assert.equal(refused, 'some still held', 'the calls within the budget are held, not refused');
      const settled = await Promise.all(calls.map((c) => Promise.race([c, new Promise<null>((r) => setTimeout(() => r(null), 100))])));
      const exhausted = settled.filter((end) => end?.grpcStatus === grpc.status.RESOURCE_EXHAUSTED);
      const held = settled.filter((end) => end === null);
      assert.equal(exhausted.length + held.length, 30);
      // What a held call pins holds all of its 600 kB, so at most 13 fit in 8 MiB.
      assert.ok(held.length <= 13, `${held.length} calls of 600 kB held by an 8 MiB budget`);

      assert.equal(await modelInfer(server.grpcAddress!, 1), grpc.status.OK);
      // 60,000 rows (960 kB) need more room than the stalled calls left (< 64 kB + one stalled call).
      assert.equal(await modelInfer(server.grpcAddress!, 60_000), grpc.status.RESOURCE_EXHAUSTED);
    } finally {
      attacker.destroy();
    }
    await Promise.all(calls);
    assert.equal(await modelInfer(server.grpcAddress!, 60_000), grpc.status.OK, 'the budget is free again');
  });
});

describe('gRPC message framing', () => {
  it('follows prefixes and payloads split anywhere, several messages per chunk, empty messages', () => {
    const message = (n: number) => Buffer.concat([Buffer.from([0, 0, 0, 0, n]), Buffer.alloc(n, 7)]);
    const stream = Buffer.concat([message(3), message(0), message(10)]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const framing = new MessageFraming();
      const completed = framing.push(stream.subarray(0, cut)) + framing.push(stream.subarray(cut));
      assert.equal(completed, 3, `cut at ${cut}`);
      assert.equal(framing.partialBytes, 0);
    }
    const framing = new MessageFraming();
    assert.equal(framing.push(Buffer.concat([message(3), message(10).subarray(0, 7)])), 1);
    assert.equal(framing.partialBytes, 7);
  });
});

describe('guardRequest', () => {
  const prefix = (n: number) => Buffer.from([0, 0, 0, 0, n]);
  const fakeStream = () => {
    const stream = new EventEmitter() as EventEmitter & { close(): void };
    stream.close = () => {};
    return stream;
  };

  it('never refuses a unary request that came whole in its first DATA frame, even with no budget left', () => {
    const full = new IncompleteRequestBudget(0);
    const answers: grpc.status[] = [];
    const small = fakeStream();
    guardRequest(small as never, (answer) => answers.push(answer.code), false, { timeoutMs: 60_000, budget: full });
    small.emit('data', Buffer.concat([prefix(3), Buffer.alloc(3)]));
    small.emit('end');
    assert.deepEqual(answers, []);

    const large = fakeStream();
    const refusals: grpc.status[] = [];
    guardRequest(large as never, (answer) => refusals.push(answer.code), false, { timeoutMs: 60_000, budget: full });
    try {
      large.emit('data', Buffer.concat([prefix(200), Buffer.alloc(100)]));
      assert.deepEqual(refusals, [grpc.status.RESOURCE_EXHAUSTED]);
    } finally {
      large.emit('close');
    }
  });

  it('on a stream of request messages, times a message only while it is partial and read, and charges only that message', async () => {
    const stream = fakeStream();
    const budget = new IncompleteRequestBudget(1 << 20);
    const answers: grpc.status[] = [];
    guardRequest(stream as never, (answer) => answers.push(answer.code), true, { timeoutMs: 150, budget });

    stream.emit('data', Buffer.concat([prefix(2), Buffer.alloc(2)])); // whole: nothing held, no timer
    assert.equal(budget.heldBytes, 0);
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(answers, []);

    stream.emit('data', prefix(9)); // partial
    assert.ok(budget.heldBytes > 0, 'the partial message is charged');
    stream.emit('pause'); // the server is not reading: the client is not late
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(answers, []);
    stream.emit('resume');
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(answers, [grpc.status.DEADLINE_EXCEEDED]);
    assert.equal(budget.heldBytes, 0);
  });
});
