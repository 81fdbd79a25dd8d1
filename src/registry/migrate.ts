// Applies pending migrations at start-up (deploy semantics, standard _prisma_migrations table)
// with the wasm schema engine, so that no native Prisma engine is ever needed.
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import type { MigrationList } from '@prisma/schema-engine-wasm';
import { readSettings } from '../settings.ts';
import { redactPassword, resolveDatabaseTarget, type DatabaseTarget } from './database-url.ts';
import { migrationChecksum, migrationsDirFor, readMigrationsFolder, schemaFileFor } from './migrations-folder.ts';
import { withPgAdvisoryLock, withSqliteFileLock } from './migration-lock.ts';
import { engineErrorMessage, withSchemaEngine } from './schema-engine.ts';

export interface MigrateResult {
  provider: DatabaseTarget['provider'];
  /** Migrations applied by this call, in order (empty when the database was up to date). */
  applied: string[];
  /** False when the applied-migrations table already matched the folder and the engine was not loaded. */
  engineUsed: boolean;
  ms: number;
}

interface AppliedRow {
  migration_name: string;
  checksum: string;
  finished_at: unknown;
  rolled_back_at: unknown;
}

const MIGRATIONS_TABLE_QUERY = 'SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations';

/** True when every local migration is recorded as finished with the same checksum and none failed. */
export function isUpToDate(list: MigrationList, rows: AppliedRow[]): boolean {
  const active = rows.filter((row) => row.rolled_back_at === null);
  if (active.some((row) => row.finished_at === null)) return false;
  const finished = new Map(active.map((row) => [row.migration_name, row.checksum]));
  return list.migrationDirectories.every((dir) => {
    const script = dir.migrationFile.content;
    return script.tag === 'ok' && finished.get(dir.path) === migrationChecksum(script.value);
  });
}

async function runEngine(target: DatabaseTarget, list: MigrationList, adapter: PrismaBetterSqlite3 | PrismaPg): Promise<string[]> {
  const schemaPath = schemaFileFor(target.provider);
  const schema = { path: schemaPath, content: await readFile(schemaPath, 'utf8') };
  try {
    const output = await withSchemaEngine(schema, adapter, (engine) =>
      engine.applyMigrations({ migrationsList: list, filters: { externalTables: [], externalEnums: [] } }),
    );
    return output.appliedMigrationNames;
  } catch (error) {
    const where = target.filePath ?? redactPassword(target.url);
    throw new Error(`applying database migrations to ${where} failed: ${engineErrorMessage(error)}`, { cause: error });
  }
}

function readSqliteMigrationsTable(filePath: string): AppliedRow[] {
  if (!existsSync(filePath)) return [];
  const db = new Database(filePath, { fileMustExist: true, timeout: 10_000 });
  try {
    return db.prepare(MIGRATIONS_TABLE_QUERY).all() as AppliedRow[];
  } catch {
    return []; // no _prisma_migrations table yet
  } finally {
    db.close();
  }
}

async function migrateSqlite(
  target: DatabaseTarget & { filePath: string },
  list: MigrationList,
  useFastPath: boolean,
): Promise<Omit<MigrateResult, 'ms'>> {
  if (useFastPath && isUpToDate(list, readSqliteMigrationsTable(target.filePath))) {
    return { provider: 'sqlite', applied: [], engineUsed: false };
  }
  mkdirSync(path.dirname(target.filePath), { recursive: true });
  const applied = await withSqliteFileLock(`${target.filePath}.migrate-lock`, () =>
    runEngine(target, list, new PrismaBetterSqlite3({ url: target.url, timeout: 15_000 })),
  );
  return { provider: 'sqlite', applied, engineUsed: true };
}

async function migratePostgres(target: DatabaseTarget, list: MigrationList, useFastPath: boolean): Promise<Omit<MigrateResult, 'ms'>> {
  const client = new pg.Client({ connectionString: target.url });
  try {
    await client.connect();
  } catch (error) {
    throw new Error(`cannot connect to PostgreSQL at ${redactPassword(target.url)}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const rows = await client.query<AppliedRow>(MIGRATIONS_TABLE_QUERY).then(
      (result) => result.rows,
      () => [] as AppliedRow[],
    );
    if (useFastPath && isUpToDate(list, rows)) return { provider: 'postgresql', applied: [], engineUsed: false };
    const pool = new pg.Pool({ connectionString: target.url, max: 2 });
    try {
      const applied = await withPgAdvisoryLock(client, () => runEngine(target, list, new PrismaPg(pool)));
      return { provider: 'postgresql', applied, engineUsed: true };
    } finally {
      await pool.end();
    }
  } finally {
    await client.end();
  }
}

/**
 * `prisma migrate deploy` without the native engine: applies the pending migrations of
 * prisma/migrations/<provider> to databaseUrl (default: DATABASE_URL, else ./data/bnserve.db).
 * Idempotent; on an up-to-date database it only reads _prisma_migrations (unless alwaysUseEngine).
 */
export async function applyMigrations(databaseUrl?: string, options: { alwaysUseEngine?: boolean } = {}): Promise<MigrateResult> {
  const started = performance.now();
  const target = resolveDatabaseTarget(databaseUrl ?? readSettings(['DATABASE_URL']).DATABASE_URL);
  const list = await readMigrationsFolder(migrationsDirFor(target.provider));
  if (list.migrationDirectories.length === 0) {
    throw new Error(`no migrations found in ${list.baseDir}: the installation is incomplete`);
  }
  const result =
    target.provider === 'sqlite'
      ? await migrateSqlite(target as DatabaseTarget & { filePath: string }, list, !options.alwaysUseEngine)
      : await migratePostgres(target, list, !options.alwaysUseEngine);
  return { ...result, ms: performance.now() - started };
}
