// The registry database fails under a running server: the SQLite file deleted, the SQLite file held
// by another process's exclusive lock, PostgreSQL connections cut (pg_terminate_backend on the test
// database only). Each time: the loaded version keeps serving, /v2/health/ready tells the truth
// about the registry, promotes are refused cleanly (never a 500, never a silent success on a dead
// file), and everything comes back by itself once the fault is gone (bounded polling).
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FaultContext, Scenario } from '../harness/context.ts';
import { cloneGolden, createPgDatabase, MODEL, terminatePgConnections, trainIris } from '../harness/fixtures.ts';
import { keepAliveAgent, loadLoop, predictSpec, request } from '../harness/http.ts';
import { sleep, spawnProcess, waitUntil } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { type RegistryLocation, ServerProcess } from '../harness/server.ts';

interface Traffic {
  stop(): Promise<{ sent: number; failed: number; lost: number; examples: string[]; maxLatencyMs: number }>;
}

/** Light background traffic on the default route; counts what did not answer 200. */
function backgroundTraffic(server: ServerProcess): Traffic {
  let stop = false;
  let sent = 0;
  let failed = 0;
  let lost = 0;
  let maxLatencyMs = 0;
  const examples: string[] = [];
  const agent = keepAliveAgent(2);
  const load = loadLoop({
    workers: 2,
    maxRequests: 1_000_000,
    maxMs: 240_000,
    pauseMs: 10,
    stop: () => stop,
    send: () => request(server.url, predictSpec(MODEL), { agent }),
    onResult: (o) => {
      sent++;
      maxLatencyMs = Math.max(maxLatencyMs, o.endedAt - o.startedAt);
      if (o.error) lost++;
      else if (o.result!.status !== 200) failed++;
      if ((o.error || o.result!.status !== 200) && examples.length < 3)
        examples.push(o.error ?? `${o.result!.status} ${o.result!.body.slice(0, 100)}`);
    },
  });
  return {
    async stop() {
      stop = true;
      await load;
      agent.destroy();
      return { sent, failed, lost, examples, maxLatencyMs };
    },
  };
}

/** Can another process read the registry right now (no waiting on locks)? */
function sqliteReadable(file: string): boolean {
  if (!existsSync(file)) return false;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true, timeout: 0 });
    try {
      db.prepare('SELECT count(*) FROM sqlite_master').get();
      return true;
    } finally {
      db.close();
    }
  } catch {
    return false;
  }
}

const readyIs = (server: ServerProcess, status: number, timeoutMs: number) =>
  waitUntil(async () => (await server.ready()) === status, timeoutMs, 200);

async function sqliteDeleted(ctx: FaultContext, checks: Checks, totals: Totals): Promise<void> {
  const golden = await ctx.golden();
  const location = cloneGolden(golden, ctx.work, 'sqlite-deleted');
  const server = await ServerProcess.start(location);
  try {
    if ((await server.promote(MODEL, golden.versions[0].version)).status !== 200) throw new Error('setup promote failed');
    const traffic = backgroundTraffic(server);
    await sleep(500);
    const backup = path.join(location.dir, 'backup.db');
    const source = new Database(location.dbFile, { readonly: true });
    await source.backup(backup);
    source.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(location.dbFile + suffix, { force: true });

    const notReadyAfter = await readyIs(server, 503, 5000);
    checks.add(
      'sqlite deleted: readiness turns 503',
      notReadyAfter !== null,
      notReadyAfter !== null ? `after ${notReadyAfter} ms` : '/v2/health/ready still 200 5 s after the file was deleted',
    );
    const promote = await server.promote(MODEL, golden.versions[1].version);
    totals.sent++;
    if (promote.status >= 500 && promote.status !== 503) totals.failed++;
    checks.add('sqlite deleted: promote refused with 503', promote.status === 503, `${promote.status} ${promote.body.slice(0, 160)}`);

    copyFileSync(backup, location.dbFile);
    const readyAgain = await readyIs(server, 200, ctx.short ? 8000 : 20_000);
    const promoteAgain = await waitUntil(
      async () => (await server.promote(MODEL, golden.versions[0].version, 'production', 5000)).status === 200,
      5000,
      500,
    );
    checks.add(
      'sqlite restored: ready and promotes again by itself',
      readyAgain !== null && promoteAgain !== null,
      `ready ${readyAgain !== null ? `after ${readyAgain} ms` : 'not within the bound'}, promote ${promoteAgain !== null ? 'ok' : 'still failing'}`,
    );
    const t = await traffic.stop();
    totals.add(t);
    servedThrough(checks, 'sqlite deleted', t);
  } finally {
    await server.kill();
  }
}

async function sqliteLocked(ctx: FaultContext, checks: Checks, totals: Totals): Promise<void> {
  const golden = await ctx.golden();
  const location = cloneGolden(golden, ctx.work, 'sqlite-locked');
  const server = await ServerProcess.start(location);
  const holdMs = ctx.short ? 6000 : 20_000;
  try {
    if ((await server.promote(MODEL, golden.versions[0].version)).status !== 200) throw new Error('setup promote failed');
    const traffic = backgroundTraffic(server);
    const locker = spawnProcess(
      process.execPath,
      [
        '-e',
        `const D=require('better-sqlite3');const db=new D(process.argv[1]);db.exec('BEGIN EXCLUSIVE');console.log('locked');setTimeout(()=>{db.exec('COMMIT');db.close();console.log('released')},${holdMs});`,
        location.dbFile,
      ],
      process.env,
    );
    const lockedWithin = await waitUntil(async () => locker.stdout().includes('locked'), 15_000, 50);
    if (lockedWithin === null) throw new Error(`the locking process did not take the lock: ${locker.output()}`);
    const lockedAt = Date.now();
    await sleep(1500);
    const readable = sqliteReadable(location.dbFile);
    const ready = await server.ready();
    checks.add(
      'sqlite locked: readiness tells the truth',
      (ready === 200) === readable,
      `registry ${readable ? 'readable' : 'unreadable'} by another process during the lock; /v2/health/ready ${ready}`,
    );
    const promoteStarted = Date.now();
    const promote = await server.promote(MODEL, golden.versions[1].version, 'production', holdMs + 30_000);
    totals.sent++;
    const promoteMs = Date.now() - promoteStarted;
    if (promote.status === 0) totals.lost++;
    else if (promote.status >= 500 && promote.status !== 503) totals.failed++;
    checks.add(
      'sqlite locked: promote during the lock answers 200 (after the lock) or 503, in bounded time',
      promote.status === 200 || promote.status === 503,
      `${promote.status} after ${promoteMs} ms (lock held ${holdMs} ms from ${(promoteStarted - lockedAt) / 1000} s before) ${promote.status === 200 ? '' : promote.body.slice(0, 160)}`,
    );
    await locker.exited;
    const readyAgain = await readyIs(server, 200, 10_000);
    const promoteAgain = await waitUntil(
      async () => (await server.promote(MODEL, golden.versions[0].version, 'production', 20_000)).status === 200,
      10_000,
      500,
    );
    checks.add(
      'sqlite lock released: ready and promotes again',
      readyAgain !== null && promoteAgain !== null,
      `ready ${readyAgain !== null ? 'yes' : 'no'}, promote ${promoteAgain !== null ? 'ok' : 'failing'}`,
    );
    const t = await traffic.stop();
    totals.add(t);
    servedThrough(checks, 'sqlite locked', t);
  } finally {
    await server.kill();
  }
}

async function postgresCut(ctx: FaultContext, checks: Checks, totals: Totals, notes: string[]): Promise<void> {
  const database = await createPgDatabase();
  if (!database) {
    notes.push('PostgreSQL not reachable at 127.0.0.1:5432: the connection-cut part was skipped');
    return;
  }
  try {
    const dir = mkdtempSync(path.join(ctx.work, 'pg-'));
    const location: RegistryLocation = { databaseUrl: database.url, artifacts: path.join(dir, 'artifacts') };
    const trained = await trainIris(location, 1, dir);
    const server = await ServerProcess.start(location);
    try {
      const traffic = backgroundTraffic(server);
      const cuts = ctx.short ? 3 : 10;
      let cutConnections = 0;
      const readyAfterCut: Array<number | null> = [];
      for (let i = 0; i < cuts; i++) {
        cutConnections += await terminatePgConnections(database.name);
        await sleep(300);
        readyAfterCut.push(await readyIs(server, 200, 10_000));
        await sleep(700);
      }
      checks.add('postgres cut: connections were cut', cutConnections > 0, `${cutConnections} backend(s) terminated over ${cuts} cuts`);
      checks.add(
        'postgres cut: ready again after every cut (PostgreSQL itself stays up)',
        readyAfterCut.every((ms) => ms !== null),
        `ms until ready after each cut: ${JSON.stringify(readyAfterCut)}`,
      );
      await terminatePgConnections(database.name);
      const promoted = await waitUntil(
        async () => (await server.promote(MODEL, trained.model!.version, 'production', 10_000)).status === 200,
        10_000,
        500,
      );
      totals.sent++;
      checks.add(
        'postgres cut: registry writes work again by themselves',
        promoted !== null,
        promoted !== null ? `promote ok after ${promoted} ms` : 'promote still failing 10 s after the cut',
      );
      const t = await traffic.stop();
      totals.add(t);
      servedThrough(checks, 'postgres cut', t);
    } finally {
      await server.kill();
    }
  } finally {
    await database.drop();
  }
}

/** The loaded version answered every request, none stalled (a blocked event loop counts as a fault). */
function servedThrough(checks: Checks, part: string, t: Awaited<ReturnType<Traffic['stop']>>): void {
  checks.add(
    `${part}: loaded version kept serving, no request stalled > ${STALL_MS} ms`,
    t.failed + t.lost === 0 && t.maxLatencyMs <= STALL_MS,
    `${t.sent} requests, ${t.failed} failed, ${t.lost} lost, slowest ${t.maxLatencyMs.toFixed(0)} ms ${t.examples.join(' | ')}`,
  );
}

const STALL_MS = 2000;

class Totals {
  sent = 0;
  failed = 0;
  lost = 0;
  add(t: { sent: number; failed: number; lost: number }) {
    this.sent += t.sent;
    this.failed += t.failed;
    this.lost += t.lost;
  }
}

export const registryFaults: Scenario = {
  name: 'registry-faults',
  budgetSeconds: { short: 180, full: 300 },
  async run(ctx) {
    const checks = new Checks();
    const totals = new Totals();
    const notes: string[] = [];
    await sqliteDeleted(ctx, checks, totals);
    await sqliteLocked(ctx, checks, totals);
    await postgresCut(ctx, checks, totals, notes);
    return {
      scenario: 'registry-faults',
      pass: checks.pass,
      sent: totals.sent,
      failed: totals.failed,
      lost: totals.lost,
      outcome: [checks.outcome(), ...notes].join('; '),
      checks: checks.list,
      numbers: { notes },
    };
  },
};
