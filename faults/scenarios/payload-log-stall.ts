// A payload-log endpoint that accepts connections and never answers, under load against a real
// `bnserve serve`: inference must not notice (0 failed, 0 lost, latency like a run without the log),
// and what the log cannot take is dropped and counted, never queued without bound.
import { createServer, type Server } from 'node:http';
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { inferSpec, keepAliveAgent, loadLoop, percentile, request } from '../harness/http.ts';
import { Checks } from '../harness/report.ts';
import { type RegistryLocation, ServerProcess } from '../harness/server.ts';

const WORKERS = 8;
const QUEUE = 16;

interface Run {
  sent: number;
  statuses: Record<string, number>;
  errors: number;
  p99: number;
  metrics: string;
}

async function run(location: RegistryLocation, env: Record<string, string>, maxMs: number): Promise<Run> {
  const server = await ServerProcess.start(location, { env });
  try {
    const agent = keepAliveAgent(WORKERS);
    const statuses: Record<string, number> = {};
    const latencies: number[] = [];
    let errors = 0;
    const sent = await loadLoop({
      workers: WORKERS,
      maxRequests: 100_000,
      maxMs,
      send: () => request(server.url, inferSpec(MODEL), { agent, timeoutMs: 10_000 }),
      onResult: (outcome) => {
        if (outcome.result) {
          statuses[outcome.result.status] = (statuses[outcome.result.status] ?? 0) + 1;
          latencies.push(outcome.endedAt - outcome.startedAt);
        } else errors++;
      },
    });
    const metrics = (await request(server.url, { method: 'GET', path: '/metrics' })).body;
    agent.destroy();
    return { sent, statuses, errors, p99: percentile(latencies, 99), metrics };
  } finally {
    await server.kill();
  }
}

export const payloadLogStall: Scenario = {
  name: 'payload-log-stall',
  budgetSeconds: { short: 90, full: 180 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const location = cloneGolden(golden, ctx.work, 'payload-log');
    const stalled: Server = createServer(() => {}); // reads the request, never answers
    await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
    const sink = `http://127.0.0.1:${(stalled.address() as { port: number }).port}/events`;
    const loadMs = ctx.short ? 8_000 : 30_000;
    try {
      const baseline = await run(location, {}, loadMs);
      const logged = await run(location, { BNSERVE_PAYLOAD_LOG: sink, BNSERVE_PAYLOAD_LOG_QUEUE: String(QUEUE) }, loadMs);
      const ok = logged.statuses['200'] ?? 0;
      // Dropped because the queue was full, or given up after the sink's 5 s timeout (sink_error).
      const dropped = [...logged.metrics.matchAll(/bnserve_payload_log_dropped_total\{reason="\w+"\} (\d+)/g)].reduce(
        (n, m) => n + Number(m[1]),
        0,
      );
      checks.add(
        'every inference answered 200 while the log endpoint stalls',
        ok === logged.sent && logged.errors === 0,
        `${ok} of ${logged.sent} 200, ${logged.errors} lost`,
      );
      checks.add(
        'what the log could not take was dropped and counted',
        dropped >= ok - QUEUE - 1,
        `${dropped} dropped of ${ok} exchanges (queue ${QUEUE})`,
      );
      // A stalled sink must not slow inference: p99 within 2× (+10 ms for noise on 2 cores) of the run without a log.
      checks.add(
        'p99 latency unaffected',
        logged.p99 <= 2 * baseline.p99 + 10,
        `p99 ${logged.p99.toFixed(1)} ms with the stalled log, ${baseline.p99.toFixed(1)} ms without (${baseline.sent} requests)`,
      );
      return {
        scenario: 'payload-log-stall',
        pass: checks.pass,
        sent: logged.sent,
        failed: logged.sent - ok - logged.errors,
        lost: logged.errors,
        outcome: checks.pass
          ? `${ok} answered with the log endpoint stalled, ${dropped} exchanges dropped and counted; p99 ${logged.p99.toFixed(1)} ms vs ${baseline.p99.toFixed(1)} ms`
          : checks.outcome(),
        checks: checks.list,
        numbers: { baseline: { sent: baseline.sent, p99Ms: baseline.p99 }, logged: { sent: logged.sent, p99Ms: logged.p99, dropped } },
      };
    } finally {
      stalled.closeAllConnections();
      stalled.close();
    }
  },
};
