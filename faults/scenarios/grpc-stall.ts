// Stalled gRPC uploads (issue 22) against a real `bnserve serve` with its default limits: raw HTTP/2
// connections open ModelInfer streams that each declare a 4 MB message (5-byte gRPC prefix), send
// 3.9 MB of it and never finish. Wave 1 is the attack (one connection, 400 streams); the
// full mode adds wave 2 (4 connections × 100 streams: connections must not multiply what the server
// holds). Per wave: RSS grows < 150 MB, every stream is answered (REFUSED_STREAM over the stream limit,
// RESOURCE_EXHAUSTED past the server-wide budget, DEADLINE_EXCEEDED after BNSERVE_REQUEST_TIMEOUT_MS),
// REST and gRPC answer correctly during and after it with no 5xx, and what survives a full GC is back
// near the warm baseline.
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { InferenceClient, rawConnection, stalledCall } from '../harness/grpc-client.ts';
import { IRIS_ROW, inferSpec, predictSpec, request } from '../harness/http.ts';
import { sleep } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { type MemoryAfterGc, ServerProcess } from '../harness/server.ts';

const DECLARED = 4_000_000;
const SENT = 3_900_000;
const MAX_GROWTH_KB = 150 * 1024;
/** The server's default BNSERVE_REQUEST_TIMEOUT_MS: the longest a stalled call may be held. */
const REQUEST_TIMEOUT_MS = 30_000;
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;
const mibBytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const retainedBytes = (m: MemoryAfterGc) => m.heapUsed + m.external;

/** One ModelInfer of IRIS_ROW on a channel of its own: null when it answered a sane Iris answer, else what went wrong. */
function grpcInferProblem(address: string): Promise<string | null> {
  const client = new InferenceClient(address, grpc.credentials.createInsecure());
  const request = {
    model_name: MODEL,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4], contents: { fp32_contents: IRIS_ROW } }],
  };
  return new Promise((resolve) => {
    type Unary = (
      r: object,
      o: object,
      cb: (err: grpc.ServiceError | null, res: { outputs?: Array<{ contents?: { fp32_contents?: number[] } }> }) => void,
    ) => void;
    (client as unknown as Record<string, Unary>).ModelInfer(request, { deadline: Date.now() + 15_000 }, (err, res) => {
      client.close();
      if (err) return resolve(`ModelInfer: ${grpc.status[err.code]} ${err.details}`);
      const probabilities = res.outputs?.[0]?.contents?.fp32_contents ?? [];
      const sum = probabilities.reduce((a, b) => a + b, 0);
      resolve(probabilities.length === 3 && Math.abs(sum - 1) < 1e-4 ? null : `ModelInfer answered ${JSON.stringify(res).slice(0, 200)}`);
    });
  });
}

/** REST (:predict, v2 infer) and gRPC ModelInfer once each: the problems, and the 5xx answers among them. */
async function legitProblems(url: string, grpcAddress: string): Promise<{ problems: string[]; fiveXx: number }> {
  const problems: string[] = [];
  let fiveXx = 0;
  for (const spec of [predictSpec(MODEL, IRIS_ROW), inferSpec(MODEL, IRIS_ROW)]) {
    try {
      const answer = await request(url, spec, { timeoutMs: 15_000 });
      if (answer.status >= 500) fiveXx++;
      if (answer.status !== 200) problems.push(`${spec.path} → ${answer.status} ${answer.body.slice(0, 120)}`);
    } catch (err) {
      problems.push(`${spec.path} → ${(err as Error).message}`);
    }
  }
  const grpcProblem = await grpcInferProblem(grpcAddress);
  if (grpcProblem) problems.push(grpcProblem);
  return { problems, fiveXx };
}

/** One stalled stream: how the server ended it, or 'left open' when it had not by giveUpAt. */
async function stalledStream(session: http2.ClientHttp2Session, payload: Buffer, giveUpAt: number): Promise<string> {
  const end = await stalledCall(session, DECLARED, payload, { giveUpMs: Math.max(0, giveUpAt - Date.now()) });
  if (!end.closedByServer) return 'left open';
  if (end.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM) return 'REFUSED_STREAM';
  return end.grpcStatus !== null ? grpc.status[end.grpcStatus] : `closed without a status (RST_STREAM ${end.rstCode})`;
}

interface Wave {
  name: string;
  connections: number;
  streamsEach: number;
}

interface WaveResult {
  streams: Record<string, number>;
  rssBeforeKb: number;
  rssPeakKb: number;
  problemsDuring: string[];
  problemsAfter: string[];
  fiveXx: number;
  seconds: number;
}

/** rssBeforeKb: the warm server's, before the first wave (RSS stays up after a wave, with the memory free for reuse). */
async function runWave(server: ServerProcess, grpcAddress: string, wave: Wave, rssBeforeKb: number): Promise<WaveResult> {
  const started = performance.now();
  let rssPeakKb = server.rssKb() ?? 0;
  const sampler = setInterval(() => {
    rssPeakKb = Math.max(rssPeakKb, server.rssKb() ?? 0);
  }, 100);
  const sessions = Array.from({ length: wave.connections }, () => rawConnection(grpcAddress));
  const payload = Buffer.alloc(SENT, 1);
  const giveUpAt = Date.now() + 3 * REQUEST_TIMEOUT_MS;
  const streams = sessions.flatMap((session) => Array.from({ length: wave.streamsEach }, () => stalledStream(session, payload, giveUpAt)));
  let during: { problems: string[]; fiveXx: number };
  let ends: string[];
  try {
    await sleep(2000);
    during = await legitProblems(server.url, grpcAddress);
    ends = await Promise.all(streams);
  } finally {
    clearInterval(sampler);
    for (const session of sessions) session.destroy();
  }
  rssPeakKb = Math.max(rssPeakKb, server.rssKb() ?? 0);
  const after = await legitProblems(server.url, grpcAddress);
  const counts: Record<string, number> = {};
  for (const end of ends) counts[end] = (counts[end] ?? 0) + 1;
  return {
    streams: counts,
    rssBeforeKb,
    rssPeakKb,
    problemsDuring: during.problems,
    problemsAfter: after.problems,
    fiveXx: during.fiveXx + after.fiveXx,
    seconds: (performance.now() - started) / 1000,
  };
}

const ANSWERED = new Set(['REFUSED_STREAM', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED']);

export const grpcStall: Scenario = {
  name: 'grpc-stall',
  budgetSeconds: { short: 150, full: 300 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const location = cloneGolden(golden, ctx.work, 'grpc-stall');
    const server = await ServerProcess.start(location);
    const { grpcAddress } = server;
    try {
      // Warm: the first uses of both protocols are not the attack's growth.
      for (let i = 0; i < 20; i++) await legitProblems(server.url, grpcAddress);
      await sleep(1000);
      const memoryBefore = await server.memoryAfterGc();
      const rssBeforeKb = server.rssKb() ?? 0;

      const waves: Wave[] = [{ name: 'one connection, 400 streams', connections: 1, streamsEach: 400 }];
      if (!ctx.short) waves.push({ name: '4 connections × 100 streams', connections: 4, streamsEach: 100 });
      const results: Record<string, WaveResult> = {};
      let sent = 0;
      let failed = 0;
      let lost = 0;
      for (const wave of waves) {
        ctx.log(`grpc-stall: ${wave.name}…`);
        const r = await runWave(server, grpcAddress, wave, rssBeforeKb);
        results[wave.name] = r;
        const streams = wave.connections * wave.streamsEach;
        const unanswered = Object.entries(r.streams)
          .filter(([k]) => !ANSWERED.has(k))
          .reduce((a, [, n]) => a + n, 0);
        sent += streams + 6;
        failed += r.fiveXx + r.problemsDuring.length + r.problemsAfter.length;
        lost += unanswered;
        const growthKb = r.rssPeakKb - r.rssBeforeKb;
        checks.add(
          `${wave.name}: RSS growth over the warm server's < ${mib(MAX_GROWTH_KB)}`,
          growthKb < MAX_GROWTH_KB,
          `before ${mib(r.rssBeforeKb)}, peak ${mib(r.rssPeakKb)} (+${mib(growthKb)})`,
        );
        checks.add(
          `${wave.name}: every stream answered within ${(3 * REQUEST_TIMEOUT_MS) / 1000} s`,
          unanswered === 0,
          `${JSON.stringify(r.streams)} in ${r.seconds.toFixed(1)} s`,
        );
        checks.add(
          `${wave.name}: REST and gRPC answer correctly during and after, no 5xx`,
          r.problemsDuring.length + r.problemsAfter.length === 0 && r.fiveXx === 0,
          r.problemsDuring.length + r.problemsAfter.length === 0
            ? ':predict, v2 infer → 200; ModelInfer → OK'
            : `during: ${r.problemsDuring.join(' | ') || 'ok'}; after: ${r.problemsAfter.join(' | ') || 'ok'}`,
        );
      }

      const alive = server.alive();
      checks.add('server alive afterwards', alive, alive ? `pid ${server.pid} still running` : `exited: ${server.output().slice(-500)}`);
      const memoryAfter = alive ? await server.memoryAfterGc() : null;
      const growth = memoryBefore && memoryAfter ? retainedBytes(memoryAfter) - retainedBytes(memoryBefore) : Number.NaN;
      const allowance = memoryBefore ? Math.max(0.1 * retainedBytes(memoryBefore), 4 * 2 ** 20) : 0;
      checks.add(
        'nothing held afterwards: heap + external after a full GC back near the warm baseline',
        growth <= allowance,
        memoryBefore && memoryAfter
          ? `warm ${mibBytes(retainedBytes(memoryBefore))}, after ${mibBytes(retainedBytes(memoryAfter))} (${growth >= 0 ? '+' : ''}${mibBytes(growth)}; allowed +${mibBytes(allowance)})`
          : 'the memory probe did not answer',
      );
      const peakGrowth = Math.max(...Object.values(results).map((r) => r.rssPeakKb - r.rssBeforeKb));
      return {
        scenario: 'grpc-stall',
        pass: checks.pass,
        sent,
        failed,
        lost,
        outcome: checks.pass
          ? `${sent - 6 * waves.length} stalled streams all answered; RSS peak +${mib(peakGrowth)}; REST and gRPC answered throughout`
          : checks.outcome(),
        checks: checks.list,
        numbers: { waves: results, memoryBefore, memoryAfter },
      };
    } finally {
      await server.kill();
    }
  },
};
