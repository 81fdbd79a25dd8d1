// Serialises migrations between processes that start at the same time on a fresh database
// (two engines applying the same script would record a failed migration and wedge the database).
// Both locks are released by the operating system / server if the holder dies.
import Database from 'better-sqlite3';
import type pg from 'pg';

const SQLITE_LOCK_WAIT_MS = 120_000;
const SQLITE_LOCK_POLL_MS = 25;
/** Arbitrary application-wide key ("bnsv"), distinct from Prisma's own advisory lock key. */
const PG_ADVISORY_LOCK_KEY = 0x626e7376;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An exclusive SQLite transaction on a side file (not the database itself, which the engine must write). */
export async function withSqliteFileLock<T>(lockPath: string, fn: () => Promise<T>): Promise<T> {
  const lockDb = new Database(lockPath, { timeout: 0 });
  try {
    const deadline = Date.now() + SQLITE_LOCK_WAIT_MS;
    for (;;) {
      try {
        lockDb.exec('BEGIN EXCLUSIVE');
        break;
      } catch (error) {
        const busy = String((error as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY');
        if (!busy || Date.now() > deadline) {
          throw new Error(`could not take the migration lock ${lockPath}: ${(error as Error).message}`);
        }
        await sleep(SQLITE_LOCK_POLL_MS);
      }
    }
    try {
      return await fn();
    } finally {
      lockDb.exec('ROLLBACK');
    }
  } finally {
    lockDb.close();
  }
}

/** A session-level advisory lock held on the given client for the duration of fn. */
export async function withPgAdvisoryLock<T>(client: pg.Client, fn: () => Promise<T>): Promise<T> {
  await client.query('SELECT pg_advisory_lock($1)', [PG_ADVISORY_LOCK_KEY]);
  try {
    return await fn();
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [PG_ADVISORY_LOCK_KEY]).catch(() => undefined);
  }
}
