// The dashboard's reads of a run's training rows: only regular files under a size cap, once per run,
// one at a time, never holding a request for long; and a FIFO as the run's CSV hangs nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, openSync, closeSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import Fastify from 'fastify';
import { buildApp } from '../../src/serve/index.ts';
import { dashboardStaticRoutes } from '../../src/serve/dashboard/static.ts';
import { readRunRows, RunRowsCache, type RunRows, signClassesOfConfig } from '../../src/serve/dashboard/run-rows.ts';
import { tempDir } from '../train/helpers.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

const CSV = 'a,b,label\n1,2,x\n3,4,y\n5,6,x\n';
const csvConfig = (file: string) => ({ task: 'classification', data: { kind: 'csv', path: file, labelColumn: 'label' } });
const ROWS: RunRows = { means: [0, 0], paddedRanges: [], sample: { x: new Float32Array(), y: new Float32Array() }, inputShape: [2] };

/** Settles after `ms`, or never when ms is Infinity. */
const after = <T>(ms: number, value: T) => new Promise<T>((resolve) => Number.isFinite(ms) && setTimeout(() => resolve(value), ms));

async function within<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  const late = after(ms, 'late' as const);
  const outcome = await Promise.race([work, late]);
  assert.notEqual(outcome, 'late', `${what} did not finish within ${ms} ms`);
  return outcome as T;
}

/** A FIFO nobody writes to; afterwards, any reader left blocked in open() is released (a writer opens and closes). */
async function fifo(t: TestContext, dir: string): Promise<string> {
  const file = path.join(dir, 'rows.csv');
  execFileSync('mkfifo', [file]);
  t.after(() => {
    for (let i = 0; i < 20; i++) {
      try {
        closeSync(openSync(file, constants.O_WRONLY | constants.O_NONBLOCK));
      } catch {
        // ENXIO: no reader is waiting
      }
    }
  });
  return file;
}

describe('readRunRows', () => {
  it('reads a regular CSV into a summary (means, padded ranges, sample)', async (t) => {
    const file = path.join(await tempDir(t), 'rows.csv');
    await writeFile(file, CSV);
    const rows = await readRunRows(csvConfig(file));
    assert.deepEqual(rows?.means, [3, 4]);
    assert.deepEqual(rows?.paddedRanges[0], [0.6, 5.4]);
    assert.deepEqual([...(rows?.sample.y ?? [])], [0, 1, 0]);
  });

  it('refuses a FIFO, a folder and a file over the cap without handing them to the loader', async (t) => {
    const dir = await tempDir(t);
    const loaded: string[] = [];
    const load = async (config: { data: { path?: string } }) => {
      loaded.push(String(config.data.path));
      return { x: new Float32Array([1, 2]), y: new Float32Array([0]), inputShape: [2] } as never;
    };
    const read = (file: string, maxBytes?: number) => readRunRows(csvConfig(file), { maxBytes, load: load as never });
    const pipe = await fifo(t, dir);
    assert.equal(await within(1000, 'a FIFO', read(pipe)), null);
    await mkdir(path.join(dir, 'folder.csv'));
    assert.equal(await read(path.join(dir, 'folder.csv')), null);
    const big = path.join(dir, 'big.csv');
    await writeFile(big, CSV);
    assert.equal(await read(big, CSV.length - 1), null);
    assert.deepEqual(loaded, [], 'the loader saw none of them');
    assert.notEqual(await read(big, CSV.length), null);
    assert.deepEqual(loaded, [big]);
  });

  it('a FIFO never blocks the real loader either', async (t) => {
    const pipe = await fifo(t, await tempDir(t));
    assert.equal(await within(1000, 'a FIFO', readRunRows(csvConfig(pipe))), null);
  });

  it('reads no data source kind it does not know', async () => {
    assert.equal(await readRunRows({ data: { kind: 'images', path: '/dev/zero' } }), null);
    assert.equal(await readRunRows(null), null);
  });
});

describe('RunRowsCache', () => {
  it('reads a run once: concurrent requests share the read, later ones the kept summary', async () => {
    let reads = 0;
    const cache = new RunRowsCache(async () => {
      reads++;
      return after(20, ROWS);
    });
    const answers = await Promise.all(Array.from({ length: 5 }, () => cache.get('run-1', {})));
    assert.ok(answers.every((rows) => rows === ROWS));
    assert.equal(await cache.get('run-1', {}), ROWS);
    assert.equal(reads, 1);
  });

  it('keeps a few runs only (least recently used goes first)', async () => {
    const reads: string[] = [];
    const read = async (config: unknown) => {
      reads.push(String(config));
      return ROWS;
    };
    const cache = new RunRowsCache(read, { capacity: 2 });
    for (const run of ['a', 'b', 'a', 'c', 'a', 'b']) await cache.get(run, run);
    assert.deepEqual(reads, ['a', 'b', 'c', 'b'], '"b" was the least recently used when "c" came');
  });

  it('answers null after waitMs while the read goes on, and keeps what it finally reads', async () => {
    const cache = new RunRowsCache(() => after(100, ROWS), { waitMs: 10 });
    assert.equal(await cache.get('slow', {}), null);
    await after(150, null);
    assert.equal(await cache.get('slow', {}), ROWS);
  });

  it('reads one run at a time: a read that never ends holds no second one', async () => {
    const started: string[] = [];
    const cache = new RunRowsCache(
      (config) => {
        started.push(String(config));
        return config === 'stuck' ? after(Number.POSITIVE_INFINITY, ROWS) : Promise.resolve(ROWS);
      },
      { waitMs: 20 },
    );
    assert.equal(await cache.get('stuck', 'stuck'), null);
    assert.equal(await cache.get('other', 'other'), null);
    assert.deepEqual(started, ['stuck']);
  });

  it('a read that fails answers null', async () => {
    const cache = new RunRowsCache(() => Promise.reject(new Error('EACCES')));
    assert.equal(await cache.get('run', {}), null);
  });
});

it("sign classes from a config's labelMap ('*' is every other label)", () => {
  assert.deepEqual(signClassesOfConfig({ data: { labelMap: { setosa: -1, '*': 1 } } }), { negative: 'setosa', positive: 'others' });
  assert.equal(signClassesOfConfig({ data: { labelMap: { a: 0, b: 1 } } }), undefined);
  assert.equal(signClassesOfConfig({ data: {} }), undefined);
});

it('a FIFO as the run’s CSV: decision regions answer promptly and the server keeps reading files', async (t) => {
  const dir = await tempDir(t);
  const pipe = await fifo(t, dir);
  const registry = new FakeRegistry();
  const run = await registry.startRun({ name: 'pair', config: { name: 'pair', layers: [], ...csvConfig(pipe) }, backend: 'cpu', seed: 1 });
  await registry.finishRun(run.id, { status: 'succeeded' });
  await registry.registerVersion({ ...versionInput('pair', randomMlp(11, 2, 5, 3), 'classification'), runId: run.id });
  // Loopback and the default setting: every caller may see rows, so the server does try to read them.
  const app = await buildApp({ registry, env: {}, providers: ['cpu'], refreshIntervalMs: 0 });
  t.after(() => app.close());
  await app.ready();
  const uiRoot = path.join(dir, 'ui');
  await mkdir(path.join(uiRoot, 'assets'), { recursive: true });
  await writeFile(path.join(uiRoot, 'index.html'), '<!doctype html><title>bnserve</title>');
  await writeFile(path.join(uiRoot, 'assets', 'app.js'), 'console.log(1)');
  const ui = Fastify();
  await ui.register(dashboardStaticRoutes, { root: uiRoot });
  t.after(() => ui.close());

  const regions = Array.from({ length: 8 }, () => app.inject('/api/models/pair/versions/1/decision-regions?resolution=5'));
  const answers = await within(3000, '8 decision-region requests', Promise.all(regions));
  assert.deepEqual(
    answers.map((r) => r.statusCode),
    new Array(8).fill(200),
  );
  assert.deepEqual(answers[0].json().points, []);
  // libuv's 4 threads are free: file reads, the dashboard's files and readiness all answer.
  await within(2000, '16 file reads', Promise.all(Array.from({ length: 16 }, () => readFile(path.join(uiRoot, 'index.html')))));
  assert.equal((await within(2000, 'a /ui file', ui.inject('/ui/assets/app.js'))).statusCode, 200);
  assert.equal((await within(2000, 'readiness', app.inject('/v2/health/ready'))).statusCode, 200);
});
