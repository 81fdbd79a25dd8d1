// Moderate paced load on both protocols for 10 minutes (short mode: 20 s): no failed request, RSS
// growth under 10% from the end of the first window to the end, and the last window's p99 latency
// stable against the first (≤ 1.5× or within 5 ms: the machine is shared and noisy).
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { inferSpec, keepAliveAgent, percentile, predictSpec, request } from '../harness/http.ts';
import { sleep } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { ServerProcess } from '../harness/server.ts';

const WORKERS = 4;
const PER_WORKER_RPS = 50;

export const soak: Scenario = {
  name: 'soak',
  budgetSeconds: { short: 90, full: 720 },
  async run(ctx) {
    const checks = new Checks();
    const seconds = ctx.short ? 20 : 600;
    const windowS = ctx.short ? 5 : 60;
    const golden = await ctx.golden();
    const server = await ServerProcess.start(cloneGolden(golden, ctx.work, 'soak'));
    try {
      if ((await server.promote(MODEL, golden.versions[0].version)).status !== 200) throw new Error('setup promote failed');
      const agent = keepAliveAgent(WORKERS);
      const started = performance.now();
      const end = started + seconds * 1000;
      const samples: Array<{ at: number; ms: number }> = [];
      const rss: Array<{ at: number; kb: number }> = [];
      let failed = 0;
      let lost = 0;
      const rssTimer = setInterval(
        () => rss.push({ at: (performance.now() - started) / 1000, kb: server.rssKb() ?? 0 }),
        ctx.short ? 1000 : 5000,
      );
      const worker = async (w: number) => {
        for (let i = 0; performance.now() < end; i++) {
          const due = started + (i * 1000) / PER_WORKER_RPS + (w * 1000) / PER_WORKER_RPS / WORKERS;
          if (due > performance.now()) await sleep(due - performance.now());
          const t0 = performance.now();
          try {
            const answer = await request(server.url, (i + w) % 2 ? predictSpec(MODEL) : inferSpec(MODEL), { agent, timeoutMs: 15_000 });
            if (answer.status !== 200) failed++;
          } catch {
            lost++;
          }
          samples.push({ at: (t0 - started) / 1000, ms: performance.now() - t0 });
        }
      };
      await Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
      clearInterval(rssTimer);
      agent.destroy();

      const first = samples.filter((s) => s.at < windowS).map((s) => s.ms);
      const last = samples.filter((s) => s.at >= seconds - windowS).map((s) => s.ms);
      const p99First = percentile(first, 99);
      const p99Last = percentile(last, 99);
      const rssBase = rss.find((r) => r.at >= windowS)?.kb ?? rss[0]?.kb ?? 0;
      const rssEnd = rss.at(-1)?.kb ?? 0;
      const growth = rssBase > 0 ? rssEnd / rssBase - 1 : Number.NaN;
      checks.add(
        'no failed or lost request',
        failed + lost === 0,
        `${samples.length} sent at ~${WORKERS * PER_WORKER_RPS} req/s, ${failed} failed, ${lost} lost`,
      );
      checks.add(
        'RSS growth < 10%',
        growth < 0.1,
        `${(rssBase / 1024).toFixed(0)} MiB after the first ${windowS} s → ${(rssEnd / 1024).toFixed(0)} MiB at ${seconds} s (${(growth * 100).toFixed(1)}%)`,
      );
      checks.add(
        'p99 stable (last window vs first)',
        p99Last <= Math.max(1.5 * p99First, p99First + 5),
        `first ${windowS} s p99 ${p99First.toFixed(1)} ms, last ${windowS} s p99 ${p99Last.toFixed(1)} ms (${(p99Last / p99First).toFixed(2)}×)`,
      );
      return {
        scenario: ctx.short ? `soak (short: ${seconds} s)` : 'soak',
        pass: checks.pass,
        sent: samples.length,
        failed,
        lost,
        outcome: checks.pass
          ? `RSS ${(growth * 100).toFixed(1)}%, p99 ${p99First.toFixed(1)} → ${p99Last.toFixed(1)} ms over ${seconds} s`
          : checks.outcome(),
        checks: checks.list,
        numbers: { seconds, windowS, p99First, p99Last, rssBaseKb: rssBase, rssEndKb: rssEnd, rss },
      };
    } finally {
      await server.kill();
    }
  },
};
