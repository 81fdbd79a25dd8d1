// Fresh databases for registry tests: a SQLite file in a temp folder, or a uniquely named
// PostgreSQL database on the local server (dropped afterwards). PostgreSQL tests are skipped,
// visibly, when no server answers.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import pg from 'pg';

export type Provider = 'sqlite' | 'postgresql';
export const PROVIDERS: Provider[] = ['sqlite', 'postgresql'];

/** Admin connection used to create and drop test databases (override for CI). */
const PG_ADMIN_URL = process.env.BNSERVE_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  provider: Provider;
  url: string;
  /** A temp folder owned by this database (artifacts, lock files, scratch). */
  dir: string;
  artifactsDir: string;
  drop(): Promise<void>;
}

function databaseUrl(adminUrl: string, database: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

let pgReachable: Promise<string | null> | undefined;

/** null when PostgreSQL answers, else the reason it does not. */
export function postgresUnavailableReason(): Promise<string | null> {
  pgReachable ??= withAdmin(async (client) => {
    await client.query('SELECT 1');
    return null;
  }).catch((error: Error) => `${new URL(PG_ADMIN_URL).host}: ${error.message || String(error)}`);
  return pgReachable;
}

export async function createTestDatabase(provider: Provider): Promise<TestDatabase> {
  const dir = await mkdtemp(path.join(tmpdir(), `bnserve-registry-${provider}-`));
  const artifactsDir = path.join(dir, 'artifacts');
  if (provider === 'sqlite') {
    return {
      provider,
      url: `file:${path.join(dir, 'db', 'registry.db')}`,
      dir,
      artifactsDir,
      drop: () => rm(dir, { recursive: true, force: true }),
    };
  }
  const name = `bnserve_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withAdmin((client) => client.query(`CREATE DATABASE "${name}"`));
  return {
    provider,
    url: databaseUrl(PG_ADMIN_URL, name),
    dir,
    artifactsDir,
    drop: async () => {
      await withAdmin((client) => client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * One fresh database per provider for a test file. `get(t)` returns it, or marks the test skipped
 * (with the reason) and returns null when PostgreSQL is not reachable.
 */
export function databaseFixture(provider: Provider) {
  let db: Promise<TestDatabase | null> | undefined;
  let skipReason: string | null = null;
  return {
    async get(t: TestContext): Promise<TestDatabase | null> {
      db ??= (async () => {
        if (provider === 'postgresql') {
          const reason = await postgresUnavailableReason();
          if (reason) {
            skipReason = `PostgreSQL not reachable: ${reason}`;
            return null;
          }
        }
        return createTestDatabase(provider);
      })();
      const value = await db;
      if (!value) t.skip(skipReason ?? 'database unavailable');
      return value;
    },
    async drop(): Promise<void> {
      const value = await db?.catch(() => null);
      await value?.drop();
    },
  };
}
