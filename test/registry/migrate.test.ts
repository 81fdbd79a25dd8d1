import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { applyMigrations, isUpToDate } from '../../src/registry/migrate.ts';
import { migrationChecksum, migrationsDirFor, readMigrationsFolder } from '../../src/registry/migrations-folder.ts';
import { RegistryError } from '../../src/registry/types.ts';
import { PROVIDERS, createTestDatabase, databaseFixture } from './support/databases.ts';
import { spawnChild } from './support/processes.ts';
import { sql } from './support/sql.ts';

const TABLES = ['EpochMetric', 'ModelAlias', 'ModelSettings', 'ModelVersion', 'TrainingRun'];

async function tablesOf(db: Parameters<typeof sql>[0]): Promise<string[]> {
  const rows =
    db.provider === 'sqlite'
      ? await sql(db, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> '_prisma_migrations'")
      : await sql(
          db,
          "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'",
        );
  return rows.map((r) => String(r.name)).sort();
}

for (const provider of PROVIDERS) {
  describe(`migrations on ${provider}`, () => {
    const fresh = databaseFixture(provider);
    const concurrent = databaseFixture(provider);
    after(() => Promise.all([fresh.drop(), concurrent.drop()]));

    test('apply to an empty database, then re-run as a no-op', async (t) => {
      const db = await fresh.get(t);
      if (!db) return;
      const list = await readMigrationsFolder(migrationsDirFor(provider));
      const names = list.migrationDirectories.map((d) => d.path);

      const first = await applyMigrations(db.url);
      assert.deepEqual(first.applied, names);
      assert.equal(first.engineUsed, true);
      assert.deepEqual(await tablesOf(db), TABLES);

      const rows = await sql(
        db,
        'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY migration_name',
      );
      assert.deepEqual(
        rows.map((r) => r.migration_name),
        names,
      );
      for (const row of rows) {
        const script = await readFile(path.join(list.baseDir, String(row.migration_name), 'migration.sql'), 'utf8');
        assert.equal(row.checksum, migrationChecksum(script), 'the fast path relies on Prisma’s checksum = sha256(migration.sql)');
        assert.notEqual(row.finished_at, null);
        assert.equal(row.rolled_back_at, null);
      }

      const second = await applyMigrations(db.url);
      assert.deepEqual(second.applied, []);
      assert.equal(second.engineUsed, false, 'an up-to-date database must not load the engine');
      const third = await applyMigrations(db.url, { alwaysUseEngine: true });
      assert.deepEqual(third.applied, []);
      assert.equal(third.engineUsed, true);
      assert.equal(Number((await sql(db, 'SELECT COUNT(*) AS n FROM _prisma_migrations'))[0].n), names.length);
      t.diagnostic(
        `${provider}: migrate from empty ${first.ms.toFixed(0)} ms; up to date ${second.ms.toFixed(1)} ms; engine no-op ${third.ms.toFixed(0)} ms`,
      );
    });

    test('two processes migrating the same fresh database at once both succeed, once', { timeout: 90_000 }, async (t) => {
      const db = await concurrent.get(t);
      if (!db) return;
      const children = [0, 1].map(() => spawnChild(['migrate', db.url, db.artifactsDir]));
      const outputs = await Promise.all(
        children.map(async (child) => {
          const line = await child.nextLine();
          const exit = await child.exited;
          assert.equal(exit.code, 0, exit.stderr);
          return line.applied as string[];
        }),
      );
      const names = (await readMigrationsFolder(migrationsDirFor(provider))).migrationDirectories.map((d) => d.path);
      assert.deepEqual(outputs.flat().sort(), names, 'each migration applied by exactly one of the two');
      const rows = await sql(db, 'SELECT migration_name, finished_at FROM _prisma_migrations');
      assert.equal(rows.length, names.length);
      assert.ok(rows.every((r) => r.finished_at !== null));
    });
  });
}

test('unsupported or unreachable databases fail with a clear message', async () => {
  await assert.rejects(applyMigrations('mysql://root@localhost/x'), (error: unknown) => {
    assert.ok(error instanceof RegistryError && error.code === 'invalid');
    assert.match((error as Error).message, /unsupported DATABASE_URL/);
    return true;
  });
  await assert.rejects(applyMigrations('postgresql://user:secret@127.0.0.1:1/nothing'), (error: unknown) => {
    assert.match((error as Error).message, /cannot connect to PostgreSQL at postgresql:\/\/user:\*\*\*@127\.0\.0\.1:1\/nothing/);
    assert.doesNotMatch((error as Error).message, /secret/);
    return true;
  });
});

describe('isUpToDate (the fast path that skips the engine)', () => {
  const list = {
    baseDir: '/x',
    lockfile: { path: 'migration_lock.toml', content: 'provider = "sqlite"' },
    shadowDbInitScript: '',
    migrationDirectories: [
      { path: '1_init', migrationFile: { path: 'migration.sql', content: { tag: 'ok' as const, value: 'CREATE TABLE a (x INT);' } } },
    ],
  };
  const done = {
    migration_name: '1_init',
    checksum: migrationChecksum('CREATE TABLE a (x INT);'),
    finished_at: '2026-01-01',
    rolled_back_at: null,
  };

  test('all finished with matching checksums → up to date', () => {
    assert.equal(isUpToDate(list, [done]), true);
    assert.equal(isUpToDate(list, [done, { ...done, migration_name: '2_newer_than_this_build' }]), true);
    assert.equal(
      isUpToDate(list, [{ ...done, finished_at: null, rolled_back_at: '2026-01-01' }, done]),
      true,
      'rolled back attempts are history',
    );
  });

  test('missing, edited or failed migrations → the engine decides', () => {
    assert.equal(isUpToDate(list, []), false);
    assert.equal(isUpToDate(list, [{ ...done, checksum: 'edited' }]), false);
    assert.equal(isUpToDate(list, [{ ...done, finished_at: null }]), false);
    assert.equal(isUpToDate(list, [done, { ...done, migration_name: '0_other', finished_at: null }]), false);
  });
});

test('a database with a failed migration is refused with Prisma’s explanation', async () => {
  const db = await createTestDatabase('sqlite');
  try {
    await applyMigrations(db.url);
    await sql(db, 'UPDATE _prisma_migrations SET finished_at = NULL');
    await assert.rejects(applyMigrations(db.url), /applying database migrations to .* failed: .*failed/s);
  } finally {
    await db.drop();
  }
});
