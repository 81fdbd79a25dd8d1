// Anonymous callers against the dashboard API of a real `bnserve serve` (loopback, so it may read
// training rows). Part 1: decision regions over ranges float32 cannot hold (1e39…, spans that
// overflow, grids it cannot tell apart, empty values): every one a 400, the log stays small and RSS
// steady (once, 10 such requests wrote 176 MiB of log and grew RSS by 240 MB). Part 2: a model whose
// training CSV was replaced by a FIFO nobody writes to: decision-region requests answer promptly, and
// file reads elsewhere (an admin load reads the artifact, /ui its files) and readiness keep answering.
import { closeSync, constants, copyFileSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, FAST_CONFIG, MODEL, trainIris } from '../harness/fixtures.ts';
import { countBy, keepAliveAgent, loadLoop, request } from '../harness/http.ts';
import { ROOT, sleep } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { ADMIN_TOKEN, ServerProcess } from '../harness/server.ts';

const CSV_MODEL = 'iris-csv';
const HOSTILE_QUERIES = [
  'xMin=1e39&xMax=1e40&yMin=1e39&yMax=1e40',
  'xMin=-3.4e38&xMax=3.4e38&yMin=-3.4e38&yMax=3.4e38',
  'xMin=1e30&xMax=1.000001e30&resolution=200',
  'xMin=1e30&xMax=1.00000001e30',
  'xMin=-Infinity&xMax=Infinity',
  'xMin=NaN&xMax=1',
  'xMin=&xMax=&yMin=&yMax=',
  'xMin=5&xMax=1',
  'x=&y=',
];
const LOG_LIMIT_BYTES = 64 * 1024;
const RSS_LIMIT_KB = 64 * 1024;
const PROMPT_MS = 5000;
const mib = (kb: number) => `${(kb / 1024).toFixed(0)} MiB`;

/** A model trained from a CSV of its own (a copy of Iris), which is then replaced by a FIFO. */
async function csvModelOnFifo(dir: string, location: Parameters<typeof trainIris>[0]): Promise<{ version: number; fifo: string }> {
  const csv = path.join(dir, 'iris-copy.csv');
  copyFileSync(path.join(ROOT, 'examples', 'data', 'iris.csv'), csv);
  const config = JSON.parse(readFileSync(FAST_CONFIG, 'utf8'));
  const configFile = path.join(dir, 'iris-csv.json');
  writeFileSync(configFile, JSON.stringify({ ...config, name: CSV_MODEL, data: { kind: 'csv', path: csv, labelColumn: 'species' } }));
  const trained = await trainIris(location, 3, dir, [], configFile);
  if (!trained.model) throw new Error('setup: training the CSV model registered no version');
  rmSync(csv);
  execFileSync('mkfifo', [csv]);
  return { version: trained.model.version, fifo: csv };
}

/** Releases any reader blocked opening the FIFO (a writer opens it and closes at once). */
function releaseFifoReaders(fifo: string): void {
  for (let i = 0; i < 64; i++) {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      return; // ENXIO: no reader waits
    }
  }
}

async function timed(url: string, spec: Parameters<typeof request>[1]): Promise<{ status: number | string; ms: number }> {
  const started = performance.now();
  try {
    const answer = await request(url, spec, { timeoutMs: 15_000 });
    return { status: answer.status, ms: performance.now() - started };
  } catch (err) {
    return { status: (err as Error).message, ms: performance.now() - started };
  }
}

export const dashboardHostile: Scenario = {
  name: 'dashboard-hostile',
  budgetSeconds: { short: 240, full: 300 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const location = cloneGolden(golden, ctx.work, 'dashboard');
    const { version: csvVersion, fifo } = await csvModelOnFifo(location.dir, location);
    const server = await ServerProcess.start(location);
    try {
      const regions = (model: string, version: number, query = 'resolution=20') =>
        `/api/models/${model}/versions/${version}/decision-regions?${query}`;
      const goldenRegions = regions(MODEL, golden.versions[0].version);
      const warm = await request(server.url, { path: goldenRegions }, { timeoutMs: 15_000 });
      if (warm.status !== 200) throw new Error(`setup: decision regions answered ${warm.status} ${warm.body.slice(0, 200)}`);
      await sleep(500);

      // Part 1: hostile ranges.
      const rssBefore = server.rssKb() ?? 0;
      const logBefore = server.output().length;
      const count = ctx.short ? 200 : 1000;
      const statuses: string[] = [];
      const fiveXx: string[] = [];
      const agent = keepAliveAgent(8);
      await loadLoop({
        workers: 8,
        maxRequests: count,
        maxMs: 60_000,
        send: (i) =>
          request(server.url, { path: regions(MODEL, golden.versions[0].version, HOSTILE_QUERIES[i % HOSTILE_QUERIES.length]) }, { agent }),
        onResult: (o, i) => {
          statuses.push(o.result ? String(o.result.status) : `error ${o.error}`);
          if (o.result && o.result.status >= 500 && fiveXx.length < 5)
            fiveXx.push(`${HOSTILE_QUERIES[i % HOSTILE_QUERIES.length]} → ${o.result.status} ${o.result.body.slice(0, 120)}`);
        },
      });
      agent.destroy();
      await sleep(1000);
      const rssAfter = server.rssKb() ?? 0;
      const logBytes = server.output().length - logBefore;
      const byStatus = countBy(statuses, (s) => s);
      const refused = byStatus['400'] ?? 0;
      checks.add(
        'hostile ranges: every answer a 400',
        refused === statuses.length,
        `${JSON.stringify(byStatus)}${fiveXx.length ? `: ${fiveXx.join(' | ')}` : ''}`,
      );
      checks.add('hostile ranges: log stays small', logBytes < LOG_LIMIT_BYTES, `${logBytes} bytes of log for ${statuses.length} requests`);
      checks.add(
        'hostile ranges: RSS steady',
        rssAfter - rssBefore < RSS_LIMIT_KB,
        `before ${mib(rssBefore)}, after ${mib(rssAfter)} (limit +${mib(RSS_LIMIT_KB)})`,
      );

      // Part 2: the CSV model's training file is a FIFO; the server (loopback: rows open to everyone) must not block on it.
      // Ranges are given: a folded graph carries no standardisation to derive them from once the rows cannot be read.
      const fifoRequests = ctx.short ? 8 : 24;
      const fifoQuery = 'resolution=20&xMin=4&xMax=8&yMin=2&yMax=4.5';
      const fifoAnswers = await Promise.all(
        Array.from({ length: fifoRequests }, () => timed(server.url, { path: regions(CSV_MODEL, csvVersion, fifoQuery) })),
      );
      const [ready, load, ui] = await Promise.all([
        timed(server.url, { path: '/v2/health/ready' }),
        timed(server.url, {
          method: 'POST',
          path: `/v2/repository/models/${MODEL}/load`,
          headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
          body: '{}',
        }),
        timed(server.url, { path: '/ui/' }),
      ]);
      const slowest = Math.max(...fifoAnswers.map((a) => a.ms));
      const fifoStatuses = countBy(fifoAnswers, (a) => String(a.status));
      checks.add(
        `FIFO as training data: ${fifoRequests} decision-region requests answer 200 within ${PROMPT_MS / 1000} s`,
        fifoAnswers.every((a) => a.status === 200) && slowest < PROMPT_MS,
        `${JSON.stringify(fifoStatuses)}, slowest ${slowest.toFixed(0)} ms`,
      );
      checks.add(
        'FIFO as training data: readiness, an admin load (reads the artifact) and /ui still answer',
        ready.status === 200 && load.status === 200 && typeof ui.status === 'number' && ui.ms < PROMPT_MS,
        `ready ${ready.status} (${ready.ms.toFixed(0)} ms), load ${load.status} (${load.ms.toFixed(0)} ms), /ui ${ui.status} (${ui.ms.toFixed(0)} ms)`,
      );
      const alive = server.alive();
      checks.add('server alive afterwards', alive, alive ? `pid ${server.pid}` : server.output().slice(-500));

      const sent = statuses.length + fifoAnswers.length + 3;
      const failed = statuses.filter((s) => /^5/.test(s)).length + fifoAnswers.filter((a) => a.status !== 200).length;
      const lost = statuses.filter((s) => s.startsWith('error')).length + fifoAnswers.filter((a) => typeof a.status === 'string').length;
      return {
        scenario: 'dashboard-hostile',
        pass: checks.pass,
        sent,
        failed,
        lost,
        outcome: checks.pass
          ? `${refused} hostile ranges → 400, ${logBytes} B of log, RSS ${mib(rssBefore)} → ${mib(rssAfter)}; FIFO: slowest answer ${slowest.toFixed(0)} ms, the server kept reading files`
          : checks.outcome(),
        checks: checks.list,
        numbers: {
          byStatus,
          logBytes,
          rssBeforeKb: rssBefore,
          rssAfterKb: rssAfter,
          fifoStatuses,
          fifoSlowestMs: slowest,
          ready,
          load,
          ui,
        },
      };
    } finally {
      releaseFifoReaders(fifo);
      await server.kill();
    }
  },
};
