// The two schema files, the two migrations folders and the datamodel must not drift apart.
import assert from 'node:assert/strict';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, test } from 'node:test';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { POSTGRES_SCHEMA, SQLITE_SCHEMA, derivePostgresSchema } from '../../prisma/schema-variants.mjs';
import { applyMigrations } from '../../src/registry/migrate.ts';
import { PRISMA_DIR, migrationsDirFor, readMigrationsFolder, schemaFileFor } from '../../src/registry/migrations-folder.ts';
import { withSchemaEngine } from '../../src/registry/schema-engine.ts';
import { createTestDatabase, postgresUnavailableReason, type TestDatabase } from './support/databases.ts';

const root = path.resolve(PRISMA_DIR, '..');
const noFilters = { externalTables: [], externalEnums: [] };
const cleanups: TestDatabase[] = [];
after(() => Promise.all(cleanups.map((db) => db.drop())));

async function freshDatabase(provider: 'sqlite' | 'postgresql'): Promise<TestDatabase> {
  const db = await createTestDatabase(provider);
  cleanups.push(db);
  return db;
}

async function schemaOf(provider: 'sqlite' | 'postgresql') {
  const file = schemaFileFor(provider);
  return { path: file, content: await readFile(file, 'utf8') };
}

test('prisma/postgresql/schema.prisma is exactly what the derivation makes of prisma/schema.prisma', async () => {
  const sqlite = await readFile(path.join(root, SQLITE_SCHEMA), 'utf8');
  const postgres = await readFile(path.join(root, POSTGRES_SCHEMA), 'utf8');
  assert.equal(postgres, derivePostgresSchema(sqlite), 'run `node scripts/prisma-generate.mjs` and commit the result');
  assert.match(postgres, /provider = "postgresql"/);
  assert.doesNotMatch(postgres, /"sqlite"/);
});

test('the derivation refuses a schema it does not recognise instead of producing a wrong one', () => {
  assert.throws(() => derivePostgresSchema('datasource db {\n  provider = "mysql"\n}\n'), /provider = "sqlite"/);
});

test('each migrations folder has a lock file naming its provider', async () => {
  for (const provider of ['sqlite', 'postgresql'] as const) {
    const list = await readMigrationsFolder(migrationsDirFor(provider));
    assert.match(list.lockfile.content ?? '', new RegExp(`^provider = "${provider}"$`, 'm'));
    assert.ok(list.migrationDirectories.length > 0);
    for (const dir of list.migrationDirectories) {
      assert.equal(dir.migrationFile.content.tag, 'ok', `${provider}/${dir.path}/migration.sql must be readable`);
      assert.match(dir.path, /^\d{14}_[a-z0-9_]+$/);
    }
  }
});

test('SQLite: the migrations produce exactly the datamodel (engine diff of the live database is empty)', async () => {
  const db = await freshDatabase('sqlite');
  const schema = await schemaOf('sqlite');
  const diffLive = () =>
    withSchemaEngine(schema, new PrismaBetterSqlite3({ url: db.url }), (engine) =>
      engine.diff({
        from: { tag: 'schemaDatasource', files: [schema], configDir: root },
        to: { tag: 'schemaDatamodel', files: [schema] },
        script: false,
        exitCode: true,
        filters: noFilters,
      }),
    );
  await mkdir(path.dirname(db.url.slice('file:'.length)), { recursive: true });
  const before = await diffLive();
  assert.equal(before.exitCode, 2, 'an empty database must differ from the datamodel (else this check proves nothing)');
  await applyMigrations(db.url);
  const afterMigrations = await diffLive();
  assert.equal(afterMigrations.exitCode, 0, `migrations drift from prisma/schema.prisma:\n${afterMigrations.stdout}`);
});

const CATALOG_QUERIES = {
  columns: `SELECT table_name, column_name, data_type, udt_name, is_nullable, column_default
              FROM information_schema.columns
             WHERE table_schema = 'public' AND table_name <> '_prisma_migrations' ORDER BY 1, 2`,
  constraints: `SELECT conrelid::regclass::text AS table_name, conname, pg_get_constraintdef(oid) AS definition
                  FROM pg_constraint
                 WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_prisma_migrations'
                 ORDER BY 1, 2`,
  indexes: `SELECT tablename, indexname, indexdef FROM pg_indexes
             WHERE schemaname = 'public' AND tablename <> '_prisma_migrations' ORDER BY 1, 2`,
  enums: `SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
            FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY 1 ORDER BY 1`,
};

async function catalog(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const out: Record<string, unknown[]> = {};
    for (const [key, sql] of Object.entries(CATALOG_QUERIES)) out[key] = (await client.query(sql)).rows;
    return out;
  } finally {
    await client.end();
  }
}

test('PostgreSQL: the migrations produce the same catalog as the datamodel rendered by the engine', async (t) => {
  const reason = await postgresUnavailableReason();
  if (reason) return t.skip(`PostgreSQL not reachable: ${reason}`);
  const [migrated, rendered] = await Promise.all([freshDatabase('postgresql'), freshDatabase('postgresql')]);
  await applyMigrations(migrated.url);

  const schema = await schemaOf('postgresql');
  const pool = new pg.Pool({ connectionString: rendered.url, max: 1 });
  try {
    const diff = await withSchemaEngine(schema, new PrismaPg(pool), (engine) =>
      engine.diff({
        from: { tag: 'empty' },
        to: { tag: 'schemaDatamodel', files: [schema] },
        script: true,
        exitCode: null,
        filters: noFilters,
      }),
    );
    await pool.query(diff.stdout ?? '');
  } finally {
    await pool.end();
  }

  const expected = await catalog(rendered.url);
  assert.equal(new Set((expected.columns as { table_name: string }[]).map((c) => c.table_name)).size, 5);
  assert.deepEqual(await catalog(migrated.url), expected, 'prisma/migrations/postgresql drifts from the datamodel');
});
