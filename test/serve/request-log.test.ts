// One short line per request at the default level, with documented fields and nothing repeated.
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { buildApp } from '../../src/serve/index.ts';
import { BufferedStdout, serveLoggerOptions } from '../../src/serve/http/request-log.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

test('a :predict request logs one line of ≤ 200 bytes with the documented fields', async () => {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(1), 'classification'));
  const lines: string[] = [];
  const app = await buildApp({
    registry,
    env: {},
    providers: ['cpu'],
    refreshIntervalMs: 0,
    logger: serveLoggerOptions('info', { write: (line: string) => lines.push(line) }),
  });
  try {
    await app.ready();
    lines.length = 0;
    const N = 20;
    for (let i = 0; i < N; i++) {
      const r = await app.inject({ method: 'POST', url: '/v1/models/iris:predict', payload: { instances: [[5.1, 3.5, 1.4, 0.2]] } });
      assert.equal(r.statusCode, 200);
    }
    assert.equal(lines.length, N, 'one line per request');
    const fields = Object.keys(JSON.parse(lines[0]));
    assert.deepEqual(fields, ['level', 'time', 'reqId', 'method', 'url', 'status', 'ms', 'model', 'version', 'msg']);
    const bytes = lines.reduce((sum, l) => sum + Buffer.byteLength(l), 0) / N;
    assert.ok(bytes <= 200, `${bytes} bytes per request`);
  } finally {
    await app.close();
  }
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
