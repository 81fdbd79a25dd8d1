// Trained models for the scenarios: the Iris example (a shorter variant, same layers kind) trained
// twice with different seeds by the real `bnserve train`, once per suite run, into a golden SQLite
// registry + artifact store that every scenario copies into its own temp folder.
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { lastJson, ROOT, runBnserve } from './processes.ts';
import type { RegistryLocation } from './server.ts';

export const MODEL = 'iris';
export const FAST_CONFIG = path.join(ROOT, 'faults', 'fixtures', 'iris-fast.json');
export const PG_ADMIN_URL = process.env.BNSERVE_TEST_PG_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TrainedVersion {
  version: number;
  sha256: string;
  /** Absolute path of the ONNX file inside the golden store. */
  relativePath: string;
}

export interface Golden {
  dir: string;
  dbFile: string;
  artifacts: string;
  versions: TrainedVersion[];
}

export interface TrainSummary {
  runId: string;
  model?: { name: string; version: number; sha256: string };
}

export function sqliteLocation(dir: string): RegistryLocation & { dbFile: string } {
  const dbFile = path.join(dir, 'registry.db');
  return { dbFile, databaseUrl: `file:${dbFile}`, artifacts: path.join(dir, 'artifacts') };
}

export function artifactRelativePath(sha256: string): string {
  return `sha256/${sha256.slice(0, 2)}/${sha256}.onnx`;
}

/** `bnserve train --config iris-fast.json --seed N --json` into the given registry. */
export async function trainIris(
  location: RegistryLocation,
  seed: number,
  cwd: string,
  extra: string[] = [],
  config = FAST_CONFIG,
): Promise<TrainSummary> {
  const result = await runBnserve(
    ['train', '--config', config, '--seed', String(seed), '--json', ...extra],
    { DATABASE_URL: location.databaseUrl, BNSERVE_ARTIFACTS: location.artifacts },
    180_000,
    cwd,
  );
  if (result.code !== 0)
    throw new Error(`bnserve train (seed ${seed}) exited ${result.code ?? result.signal}:\n${result.stderr.slice(-2000)}`);
  return lastJson<TrainSummary>(result.stdout);
}

export async function trainGolden(work: string): Promise<Golden> {
  const dir = path.join(work, 'golden');
  mkdirSync(dir, { recursive: true });
  const location = sqliteLocation(dir);
  // Both at once (two cores in CI); which one gets version 1 depends on who registers first.
  const summaries = await Promise.all([1, 2].map((seed) => trainIris(location, seed, dir)));
  const versions: TrainedVersion[] = summaries.map((summary) => {
    if (!summary.model) throw new Error('training registered no model version');
    return { version: summary.model.version, sha256: summary.model.sha256, relativePath: artifactRelativePath(summary.model.sha256) };
  });
  return { dir, dbFile: location.dbFile, artifacts: location.artifacts, versions };
}

/** A private copy of the golden registry (database file + artifacts) for one scenario. */
export function cloneGolden(golden: Golden, work: string, name: string): RegistryLocation & { dbFile: string; dir: string } {
  const dir = mkdtempSync(path.join(work, `${name}-`));
  const location = sqliteLocation(dir);
  copyFileSync(golden.dbFile, location.dbFile);
  for (const suffix of ['-wal', '-shm'])
    if (existsSync(golden.dbFile + suffix)) copyFileSync(golden.dbFile + suffix, location.dbFile + suffix);
  cpSync(golden.artifacts, location.artifacts, { recursive: true });
  return { ...location, dir };
}

/** A uniquely named database on the machine's PostgreSQL, or null when it does not answer. */
export async function createPgDatabase(): Promise<{ url: string; name: string; drop: () => Promise<void> } | null> {
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  try {
    await admin.connect();
  } catch {
    return null;
  }
  const name = `bnserve_faults_${process.pid}_${Date.now()}`;
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_ADMIN_URL });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}

/** Cuts every connection to the test database (never anything else, never the service). */
export async function terminatePgConnections(database: string): Promise<number> {
  if (!/^bnserve_faults_\d+_\d+$/.test(database)) throw new Error(`refusing to cut connections to ${database}`);
  const client = new pg.Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    const result = await client.query(
      'SELECT pg_terminate_backend(pid) AS cut FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    );
    return result.rowCount ?? 0;
  } finally {
    await client.end();
  }
}
