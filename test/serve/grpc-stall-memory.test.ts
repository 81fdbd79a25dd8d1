// The attack of issue 22 against a real serving process: one unauthenticated HTTP/2 connection, 400
// ModelInfer streams that each declare a 4 MB message, send 3.9 MB of it and never finish. Before
// the limits, the server's RSS grew by 1.5 GB and the streams were held for ever. Now its growth
// stays under 150 MB, every stream is answered (refused, RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED)
// and the server answers REST and gRPC during and after the attack.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { modelInfer, rawConnection, type StalledCallEnd, stalledCall } from './grpc-test-calls.ts';

const SERVER = path.join(import.meta.dirname, 'grpc-limits-server.ts');
const STREAMS = 400;
const DECLARED = 4_000_000;
const SENT = 3_900_000;
const MAX_GROWTH_MB = 150;
/** Short, so that the calls holding the budget are cut during the test and the queued streams take their place. */
const REQUEST_TIMEOUT_MS = 3000;

const rssMb = (pid: number) => Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

async function startServerProcess(): Promise<{ child: ChildProcess; url: string; grpcAddress: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: {
      ...process.env,
      BNSERVE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      BNSERVE_HEADERS_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (d) => (output += d));
  const line = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`the server exited (${code}) before listening:\n${output}`)));
  });
  return { child, ...(JSON.parse(line) as { url: string; grpcAddress: string }) };
}

async function restAnswers(url: string): Promise<number[]> {
  const ready = await fetch(`${url}/v2/health/ready`);
  const infer = await fetch(`${url}/v2/models/iris/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }),
  });
  return [ready.status, infer.status];
}

describe('gRPC: one connection of 400 stalled 4 MB requests (issue 22)', () => {
  let server: Awaited<ReturnType<typeof startServerProcess>>;
  before(async () => {
    server = await startServerProcess();
  });
  after(() => {
    server.child.kill('SIGKILL');
  });

  it(`keeps the server's RSS growth under ${MAX_GROWTH_MB} MB, answers every stream, and serves REST and gRPC during and after`, async (t) => {
    const pid = server.child.pid!;
    // Warm: first uses of both protocols are not the attack's growth.
    assert.deepEqual(await restAnswers(server.url), [200, 200]);
    assert.equal(await modelInfer(server.grpcAddress, 1), grpc.status.OK);
    await new Promise((r) => setTimeout(r, 500));
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssMb(pid));
    }, 100);

    const attacker = rawConnection(server.grpcAddress);
    let ends: StalledCallEnd[];
    try {
      const payload = Buffer.alloc(SENT, 1);
      const calls = Array.from({ length: STREAMS }, () => stalledCall(attacker, DECLARED, payload, { giveUpMs: 40_000 }));
      await new Promise((r) => setTimeout(r, 1000));
      assert.deepEqual(await restAnswers(server.url), [200, 200], 'REST answers during the attack');
      assert.equal(await modelInfer(server.grpcAddress, 1), grpc.status.OK, 'gRPC answers during the attack');
      ends = await Promise.all(calls);
    } finally {
      attacker.destroy();
      clearInterval(sampler);
    }
    peak = Math.max(peak, rssMb(pid));

    const outcomes: Record<string, number> = {};
    for (const end of ends) {
      const key = !end.closedByServer
        ? 'left open'
        : end.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM
          ? 'REFUSED_STREAM'
          : (grpc.status[end.grpcStatus ?? -1] ?? `closed, rst ${end.rstCode}`);
      outcomes[key] = (outcomes[key] ?? 0) + 1;
    }
    const summary = `RSS ${before.toFixed(0)} → peak ${peak.toFixed(0)} MB; streams: ${JSON.stringify(outcomes)}`;
    t.diagnostic(summary);
    assert.ok(peak - before < MAX_GROWTH_MB, summary);
    assert.deepEqual(
      Object.keys(outcomes).filter((k) => !['REFUSED_STREAM', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED'].includes(k)),
      [],
      summary,
    );
    assert.ok(outcomes.DEADLINE_EXCEEDED > 0, `the calls within the budget are cut after ${REQUEST_TIMEOUT_MS} ms: ${summary}`);

    assert.deepEqual(await restAnswers(server.url), [200, 200], 'REST answers after the attack');
    assert.equal(await modelInfer(server.grpcAddress, 1), grpc.status.OK, 'gRPC answers after the attack');
  });
});
