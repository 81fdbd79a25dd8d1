// SIGTERM while 16 keep-alive connections send requests (several rounds: the race is timing-bound):
// no connection reset, every request the server accepted is answered, and the server exits 0 by
// itself. Requests refused because nothing listens any more (ECONNREFUSED on a new connection) were
// never accepted and are counted apart.
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { inferSpec, keepAliveAgent, predictSpec, request } from '../harness/http.ts';
import { sleep } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { type RegistryLocation, ServerProcess } from '../harness/server.ts';

const CONNECTIONS = 16;
const RESET_KINDS = /ECONNRESET|socket hang up|EPIPE|ECONNABORTED/i;

interface Round {
  sent: number;
  sentAfterSignal: number;
  answeredBeforeSignal: number;
  statuses: Record<string, number>;
  errors: Record<string, number>;
  drainSeconds: number;
  exit: { code: number | null; signal: string | null; forced: boolean };
}

async function round(location: RegistryLocation, loadMs: number): Promise<Round> {
  const server = await ServerProcess.start(location);
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
    await sleep(loadMs);
    const answeredBeforeSignal = statuses['200'] ?? 0;
    signalledAt = Date.now();
    const exit = await server.stop('SIGTERM', 30_000);
    exitedAt = Date.now();
    await load;
    agent.destroy();
    return { sent, sentAfterSignal, answeredBeforeSignal, statuses, errors, drainSeconds: (exitedAt - signalledAt) / 1000, exit };
  } finally {
    await server.kill();
  }
}

const sum = (counts: Record<string, number>, keep: (k: string) => boolean) =>
  Object.entries(counts)
    .filter(([k]) => keep(k))
    .reduce((a, [, n]) => a + n, 0);

export const sigtermDrain: Scenario = {
  name: 'sigterm-drain',
  budgetSeconds: { short: 120, full: 180 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const location = cloneGolden(golden, ctx.work, 'sigterm');
    const rounds: Round[] = [];
    for (let i = 0; i < (ctx.short ? 3 : 6); i++) rounds.push(await round(location, ctx.short ? 1500 : 4000));

    const errors: Record<string, number> = {};
    const statuses: Record<string, number> = {};
    for (const r of rounds) {
      for (const [k, n] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + n;
      for (const [k, n] of Object.entries(r.statuses)) statuses[k] = (statuses[k] ?? 0) + n;
    }
    const resets = sum(errors, (k) => RESET_KINDS.test(k));
    const refused = errors.ECONNREFUSED ?? 0;
    const timeouts = errors.timeout ?? 0;
    const otherErrors = sum(errors, () => true) - resets - refused - timeouts;
    const answered = sum(statuses, () => true);
    const non2xx = sum(statuses, (k) => k !== '200');
    const sent = rounds.reduce((a, r) => a + r.sent, 0);
    const perRound = rounds.map((r) => `${sum(r.errors, (k) => RESET_KINDS.test(k))}`).join('/');
    checks.add(
      'load ran before each signal',
      rounds.every((r) => r.answeredBeforeSignal > 0),
      `answers before SIGTERM per round: ${rounds.map((r) => r.answeredBeforeSignal).join('/')}`,
    );
    checks.add('0 connection resets', resets === 0, `resets per round ${perRound}; errors by kind: ${JSON.stringify(errors)}`);
    checks.add('every accepted request answered', timeouts + otherErrors === 0, `${timeouts} timed out, ${otherErrors} other errors`);
    checks.add('answers were 200', non2xx === 0, `statuses ${JSON.stringify(statuses)}`);
    checks.add(
      'server exited 0 by itself every time',
      rounds.every((r) => r.exit.code === 0 && !r.exit.forced),
      rounds
        .map((r) => `exit ${r.exit.code}${r.exit.forced ? ' (SIGKILLed after 30 s)' : ` in ${r.drainSeconds.toFixed(2)} s`}`)
        .join(', '),
    );
    return {
      scenario: 'sigterm-drain',
      pass: checks.pass,
      sent,
      failed: non2xx,
      lost: resets + timeouts + otherErrors,
      outcome: checks.pass
        ? `${rounds.length} rounds: ${answered} answered (${rounds.reduce((a, r) => a + r.sentAfterSignal, 0)} sent after SIGTERM), ${refused} refused after close, exit 0 each time`
        : checks.outcome(),
      checks: checks.list,
      numbers: { connections: CONNECTIONS, rounds },
    };
  },
};
