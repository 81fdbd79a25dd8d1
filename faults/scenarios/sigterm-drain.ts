// SIGTERM while 16 keep-alive connections send requests: no connection reset, every request the
// server accepted is answered, and the server exits 0 by itself. Requests refused because nothing
// listens any more (ECONNREFUSED on a new connection) were never accepted and are counted apart.
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { inferSpec, keepAliveAgent, predictSpec, request } from '../harness/http.ts';
import { sleep } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { ServerProcess } from '../harness/server.ts';

const CONNECTIONS = 16;
const RESET_KINDS = /ECONNRESET|socket hang up|EPIPE|ECONNABORTED/i;

export const sigtermDrain: Scenario = {
  name: 'sigterm-drain',
  budgetSeconds: { short: 90, full: 120 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const server = await ServerProcess.start(cloneGolden(golden, ctx.work, 'sigterm'));
    try {
      const agent = keepAliveAgent(CONNECTIONS);
      const statuses: Record<string, number> = {};
      const errors: Record<string, number> = {};
      let sent = 0;
      let sentAfterSignal = 0;
      let signalledAt = 0;
      let exitedAt = 0;
      const deadline = Date.now() + 60_000;
      const worker = async (w: number) => {
        // Each connection keeps sending until the server is gone and a request was refused.
        while (Date.now() < deadline) {
          sent++;
          if (signalledAt) sentAfterSignal++;
          try {
            const answer = await request(server.url, (sent + w) % 2 ? predictSpec(MODEL) : inferSpec(MODEL), { agent, timeoutMs: 20_000 });
            statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
          } catch (err) {
            const kind = (err as { kind?: string }).kind ?? String(err);
            errors[kind] = (errors[kind] ?? 0) + 1;
            if (exitedAt && kind === 'ECONNREFUSED') return;
          }
          if (exitedAt && Date.now() - exitedAt > 2000) return;
        }
      };
      const load = Promise.all(Array.from({ length: CONNECTIONS }, (_, w) => worker(w)));
      await sleep(ctx.short ? 2000 : 5000);
      const beforeSignal = { ...statuses };
      signalledAt = Date.now();
      const stopping = server.stop('SIGTERM', 30_000).then((exit) => {
        exitedAt = Date.now();
        return exit;
      });
      const exit = await stopping;
      await load;
      agent.destroy();

      const resets = Object.entries(errors)
        .filter(([k]) => RESET_KINDS.test(k))
        .reduce((a, [, n]) => a + n, 0);
      const refused = errors.ECONNREFUSED ?? 0;
      const timeouts = errors.timeout ?? 0;
      const otherErrors = Object.values(errors).reduce((a, b) => a + b, 0) - resets - refused - timeouts;
      const answered = Object.values(statuses).reduce((a, b) => a + b, 0);
      const non2xx = Object.entries(statuses)
        .filter(([s]) => s !== '200')
        .reduce((a, [, n]) => a + n, 0);
      const drainSeconds = (exitedAt - signalledAt) / 1000;
      checks.add('load ran before the signal', (beforeSignal['200'] ?? 0) > 0, `${beforeSignal['200'] ?? 0} answers before SIGTERM`);
      checks.add('0 connection resets', resets === 0, `errors by kind: ${JSON.stringify(errors)}`);
      checks.add('every accepted request answered', timeouts + otherErrors === 0, `${timeouts} timed out, ${otherErrors} other errors`);
      checks.add('answers were 200', non2xx === 0, `statuses ${JSON.stringify(statuses)}`);
      checks.add(
        'server exited 0 by itself',
        exit.code === 0 && !exit.forced,
        `exit code ${exit.code}, signal ${exit.signal}, ${exit.forced ? 'had to be SIGKILLed after 30 s' : `${drainSeconds.toFixed(2)} s after SIGTERM`}`,
      );
      return {
        scenario: 'sigterm-drain',
        pass: checks.pass,
        sent,
        failed: non2xx,
        lost: resets + timeouts + otherErrors,
        outcome: checks.pass
          ? `${answered} answered (${sentAfterSignal} sent after SIGTERM), ${refused} refused after close, exit 0 in ${drainSeconds.toFixed(2)} s`
          : checks.outcome(),
        checks: checks.list,
        numbers: { connections: CONNECTIONS, sent, sentAfterSignal, answered, statuses, errors, drainSeconds, exit },
      };
    } finally {
      await server.kill();
    }
  },
};
