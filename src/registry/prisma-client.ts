import type { PrismaClient } from './generated/sqlite/client.ts';
import type { DatabaseTarget } from './database-url.ts';

/**
 * Both generated clients come from one datamodel (a test keeps the two schema files in step), so the
 * SQLite client's type describes the PostgreSQL one as well; the registry only uses features both share.
 */
export type RegistryDb = PrismaClient;

/**
 * How long a SQLite statement waits for another process's lock. better-sqlite3 waits synchronously,
 * on the event loop: a server passes a short wait so that a lock held elsewhere delays a registry
 * poll, not every request.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 15_000;

async function importGenerated<T>(load: () => Promise<T>, provider: string): Promise<T> {
  try {
    return await load();
  } catch (error) {
    throw new Error(
      `the Prisma client for ${provider} is not generated (${(error as Error).message}); ` +
        'run `node scripts/prisma-generate.mjs` (npm install runs it as postinstall)',
      { cause: error },
    );
  }
}

export async function createPrismaClient(target: DatabaseTarget, busyTimeoutMs = SQLITE_BUSY_TIMEOUT_MS): Promise<RegistryDb> {
  if (target.provider === 'sqlite') {
    const { PrismaClient } = await importGenerated(() => import('./generated/sqlite/client.ts'), 'SQLite');
    const { PrismaBetterSqlite3 } = await import('@prisma/adapter-better-sqlite3');
    return new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: target.url, timeout: busyTimeoutMs }) });
  }
  const { PrismaClient } = await importGenerated(() => import('./generated/postgresql/client.ts'), 'PostgreSQL');
  const { PrismaPg } = await import('@prisma/adapter-pg');
  const client = new PrismaClient({ adapter: new PrismaPg({ connectionString: target.url }) });
  return client as unknown as RegistryDb;
}
