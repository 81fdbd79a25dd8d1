// One short line per request at the default level, with documented fields and nothing repeated.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { InjectOptions } from 'fastify';
import { setTimeout as delay } from 'node:timers/promises';
import { buildApp } from '../../src/serve/index.ts';
import { BufferedStdout, serveLoggerOptions } from '../../src/serve/http/request-log.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

/** Each request's log line from an app whose logger options are `logger`. */
async function requestLines(logger: (sink: { write(line: string): void }) => object, requests: InjectOptions[]) {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(1), 'classification'));
  const lines: string[] = [];
  const app = await buildApp({
    registry,
    env: {},
    providers: ['cpu'],
    refreshIntervalMs: 0,
    logger: logger({ write: (l) => lines.push(l) }),
  });
  try {
    await app.ready();
    lines.length = 0;
    for (const r of requests) await app.inject(r);
    return lines;
  } finally {
    await app.close();
  }
}

test('a :predict request logs one line of ≤ 200 bytes with the documented fields', async () => {
  const N = 20;
  const predict: InjectOptions = { method: 'POST', url: '/v1/models/iris:predict', payload: { instances: [[5.1, 3.5, 1.4, 0.2]] } };
  const lines = await requestLines((sink) => serveLoggerOptions('info', sink), Array(N).fill(predict));
  assert.equal(lines.length, N, 'one line per request');
  assert.ok(lines.every((l) => JSON.parse(l).status === 200));
  const fields = Object.keys(JSON.parse(lines[0]));
  assert.deepEqual(fields, ['level', 'time', 'reqId', 'method', 'url', 'status', 'ms', 'model', 'version', 'msg']);
  const bytes = lines.reduce((sum, l) => sum + Buffer.byteLength(l), 0) / N;
  assert.ok(bytes <= 200, `${bytes} bytes per request`);
});

test('BufferedStdout: lines wait until the size threshold or the delay, then leave in one write; close writes the rest', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'bnserve-log-'));
  const file = path.join(dir, 'out.log');
  const fd = openSync(file, 'w');
  const out = new BufferedStdout(fd, 30, 100);
  try {
    out.write('a\n');
    out.write('b\n');
    assert.equal(readFileSync(file, 'utf8'), '', 'held in memory at first');
    await delay(80);
    assert.equal(readFileSync(file, 'utf8'), 'a\nb\n', 'written once the delay has passed');
    out.write(`${'x'.repeat(120)}\n`);
    assert.equal(readFileSync(file, 'utf8').length, 4 + 121, 'written at once past the size threshold');
    out.write('last\n');
    out.close();
    assert.ok(readFileSync(file, 'utf8').endsWith('last\n'), 'close writes what is left');
  } finally {
    out.close();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the request log writes the line pino would write: same keys, order and values', async () => {
  const row = { instances: [[5.1, 3.5, 1.4, 0.2]] };
  const requests = [
    { method: 'POST' as const, url: '/v1/models/iris:predict', payload: row, headers: { 'x-request-id': 'req-1' } },
    { method: 'POST' as const, url: '/v1/models/nope:predict?x="q"', payload: row, headers: { 'x-request-id': 'req-2' } },
    { method: 'GET' as const, url: '/v2/health/ready', headers: { 'x-request-id': 'req-3' } },
  ];
  // serveLoggerOptions: the request log writes its own lines; plain options: they go through pino.
  const own = await requestLines((sink) => serveLoggerOptions('info', sink), requests);
  const viaPino = await requestLines((sink) => ({ level: 'info', base: null, stream: sink }), requests);
  assert.equal(own.filter((l) => l.includes('"msg":"request"')).length, 3, own.join(''));
  const comparable = (line: string) => line.replace(/"time":\d+/, '"time":T').replace(/"ms":[\d.e-]+/, '"ms":M');
  assert.deepEqual(own.map(comparable), viaPino.map(comparable));
  assert.match(own[0], /"status":200,"ms":[\d.]+,"model":"iris","version":1,"msg":"request"\}\n$/);
  // Lines logged through the request's own logger (made on first use: http/lazy-logger.ts) carry its reqId.
  const rejected = own.map((l) => JSON.parse(l)).find((l) => l.msg === 'request rejected');
  assert.equal(rejected?.reqId, 'req-2');
});

test('the request log writes nothing above info', async () => {
  const lines = await requestLines((sink) => serveLoggerOptions('warn', sink), [{ method: 'GET', url: '/v2/health/ready' }]);
  assert.deepEqual(lines, []);
});
