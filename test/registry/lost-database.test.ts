// A registry database that is missing or disappears is reported, never silently replaced by an
// empty one, and writes to a deleted SQLite file fail instead of being lost.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import pg from 'pg';
import { openRegistry, RegistryError } from '../../src/registry/index.ts';
import { registryEnv, runCli } from '../cli/run-cli.ts';
import { createTestDatabase, postgresUnavailableReason } from './support/databases.ts';
import { versionInput } from './support/inputs.ts';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<{ dir: string; url: string; file: string; artifactsDir: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'bnserve-lost-db-'));
  dirs.push(dir);
  const file = path.join(dir, 'registry.db');
  return { dir, url: `file:${file}`, file, artifactsDir: path.join(dir, 'artifacts') };
}

const unavailable = (pattern: RegExp) => (error: unknown) =>
  error instanceof RegistryError && error.code === 'unavailable' && pattern.test(error.message);

test('a SQLite file deleted while open: every write fails with "unavailable", checkDatabase tells', async () => {
  const { url, file, artifactsDir } = await tempDir();
  const registry = await openRegistry({ databaseUrl: url, artifactsDir });
  try {
    const v1 = await registry.registerVersion(versionInput('kept'));
    await registry.checkDatabase();
    await unlink(file);
    await rm(`${file}-wal`, { force: true });
    await rm(`${file}-shm`, { force: true });
    await assert.rejects(registry.checkDatabase(), unavailable(/was deleted/));
    await assert.rejects(registry.promote('kept', v1.version, 'production'), unavailable(/was deleted/));
    await assert.rejects(registry.registerVersion(versionInput('lost')), unavailable(/deleted/));
    await assert.rejects(registry.startRun({ name: 'lost', config: {}, backend: 'cpu', seed: 1 }), unavailable(/deleted/));
    await assert.rejects(registry.failStaleRuns(1000), unavailable(/deleted/));
    assert.equal(existsSync(file), false, 'nothing recreated the file');
  } finally {
    await registry.close();
  }
});

test('a database file put back at its path (a restored backup) is reopened: the registry recovers by itself', async () => {
  const { url, file, artifactsDir } = await tempDir();
  const registry = await openRegistry({ databaseUrl: url, artifactsDir });
  try {
    await registry.registerVersion(versionInput('before'));
    await registry.close(); // flushes the WAL into the file, as a backup tool would see it
    await copyFile(file, `${file}.backup`);
    const reopened = await openRegistry({ databaseUrl: url, artifactsDir });
    await reopened.registerVersion(versionInput('lost-with-the-file'));
    await unlink(file);
    await rm(`${file}-wal`, { force: true });
    await rm(`${file}-shm`, { force: true });
    await assert.rejects(reopened.checkDatabase(), unavailable(/was deleted/));
    await copyFile(`${file}.backup`, `${file}.restoring`);
    await rename(`${file}.restoring`, file);
    await reopened.checkDatabase();
    await reopened.registerVersion(versionInput('after'));
    assert.deepEqual(
      (await reopened.listModels()).map((m) => m.name),
      ['after', 'before'],
    );
    await reopened.close();
    const check = await openRegistry({ databaseUrl: url, artifactsDir });
    assert.deepEqual(
      (await check.listModels()).map((m) => m.name),
      ['after', 'before'],
      'the write after recovery went into the restored file',
    );
    await check.close();
  } catch (error) {
    await registry.close().catch(() => undefined);
    throw error;
  }
});

test('a missing database is created only at first start: never when the artifact store shows an earlier registry', async () => {
  const { url, file, artifactsDir } = await tempDir();
  await assert.rejects(openRegistry({ databaseUrl: url, artifactsDir, createDatabase: 'never' }), unavailable(/no registry at/));
  assert.equal(existsSync(file), false);

  const first = await openRegistry({ databaseUrl: url, artifactsDir }); // first start: nothing anywhere
  await first.registerVersion(versionInput('once'));
  await first.close();
  await rm(file);
  await rm(`${file}-wal`, { force: true });
  await rm(`${file}-shm`, { force: true });

  await assert.rejects(openRegistry({ databaseUrl: url, artifactsDir }), unavailable(/holds 1 registered model file.*bnserve migrate/s));
  assert.equal(existsSync(file), false, 'refused without creating an empty registry');
  const deliberate = await openRegistry({ databaseUrl: url, artifactsDir, createDatabase: 'always' });
  assert.deepEqual(await deliberate.listModels(), []);
  await deliberate.close();
});

test('CLI: `models list` on a missing registry exits 4 and creates nothing; `migrate` creates it', async () => {
  const { dir } = await tempDir();
  const env = registryEnv(dir);
  const dbFile = env.DATABASE_URL.slice('file:'.length);
  const list = await runCli(['models', 'list'], env);
  assert.equal(list.code, 4, list.stderr);
  assert.match(list.stderr, /no registry at .*bnserve migrate/);
  assert.doesNotMatch(list.stderr, /unexpected error/);
  assert.equal(existsSync(dbFile), false);

  const migrate = await runCli(['migrate', '--json'], env);
  assert.equal(migrate.code, 0, migrate.stderr);
  const listed = await runCli(['models', 'list', '--json'], env);
  assert.equal(listed.code, 0, listed.stderr);
  assert.deepEqual(JSON.parse(listed.stdout), { models: [] });
});

test('PostgreSQL: a database dropped under an open registry makes checkDatabase and writes fail as "unavailable"', async (t) => {
  const reason = await postgresUnavailableReason();
  if (reason) return t.skip(`PostgreSQL not reachable: ${reason}`);
  const db = await createTestDatabase('postgresql');
  const registry = await openRegistry({ databaseUrl: db.url, artifactsDir: db.artifactsDir });
  try {
    await registry.checkDatabase();
    const admin = new pg.Client({ connectionString: process.env.BNSERVE_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE "${new URL(db.url).pathname.slice(1)}" WITH (FORCE)`);
    } finally {
      await admin.end();
    }
    await assert.rejects(registry.checkDatabase(), unavailable(/does not answer/));
    await assert.rejects(registry.registerVersion(versionInput('gone')), unavailable(/does not answer/));
  } finally {
    await registry.close().catch(() => undefined);
    await db.drop();
  }
});

test('a lock held by another process costs a server-style registry its short busy wait, not 15 s', async () => {
  const { url, file, artifactsDir } = await tempDir();
  const registry = await openRegistry({ databaseUrl: url, artifactsDir, busyTimeoutMs: 100 });
  const Database = (await import('better-sqlite3')).default;
  await registry.registerVersion(versionInput('busy'));
  const other = new Database(file);
  try {
    other.exec('BEGIN EXCLUSIVE');
    const started = performance.now();
    await assert.rejects(registry.failStaleRuns(1000));
    const waited = performance.now() - started;
    assert.ok(waited < 5000, `waited ${waited.toFixed(0)} ms for the lock (the default wait is 15 s)`);
    assert.equal((await registry.listModels()).length, 1, 'readers are not blocked by the lock (WAL)');
    await assert.rejects(registry.promote('busy', 1, 'production'), unavailable(/locked by another process.*not moved/));
  } finally {
    other.exec('ROLLBACK');
    other.close();
    await registry.close();
  }
});
