// Raw SQL against a test database, bypassing the registry (to inspect tables or defy constraints).
import Database from 'better-sqlite3';
import pg from 'pg';
import type { TestDatabase } from './databases.ts';

/** Runs one statement; `?` placeholders are rewritten to $1, $2… for PostgreSQL. */
export async function sql(db: TestDatabase, statement: string, params: unknown[] = []): Promise<Record<string, unknown>[]> {
  if (db.provider === 'sqlite') {
    const conn = new Database(db.url.slice('file:'.length), { fileMustExist: true, timeout: 10_000 });
    try {
      const stmt = conn.prepare(statement);
      if (stmt.reader) return stmt.all(...params) as Record<string, unknown>[];
      stmt.run(...params);
      return [];
    } finally {
      conn.close();
    }
  }
  let i = 0;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (
      await client.query(
        statement.replace(/\?/g, () => `$${++i}`),
        params,
      )
    ).rows;
  } finally {
    await client.end();
  }
}
