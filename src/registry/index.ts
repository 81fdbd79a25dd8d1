import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ArtifactStore, DEFAULT_ARTIFACTS_DIR } from './artifact-store.ts';
import { resolveDatabaseTarget } from './database-url.ts';
import { applyMigrations, type MigrateResult } from './migrate.ts';
import { createPrismaClient } from './prisma-client.ts';
import { PrismaRegistry } from './registry.ts';
import type { Registry } from './types.ts';

export * from './types.ts';
export { applyMigrations, type MigrateResult } from './migrate.ts';
export { ArtifactStore, sha256Hex } from './artifact-store.ts';
export { resolveDatabaseTarget, type DatabaseTarget } from './database-url.ts';
export { startHeartbeat } from './heartbeat.ts';

/** How often a trainer should heartbeat, and after how long without one its run counts as dead. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const STALE_RUN_MS = 30_000;

/** STALE_RUN_MS, or BNSERVE_STALE_RUN_SECONDS when set (it must stay well above the heartbeat interval). */
export function staleRunMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BNSERVE_STALE_RUN_SECONDS;
  if (raw === undefined || raw === '') return STALE_RUN_MS;
  const seconds = Number(raw);
  if (!(seconds > 0)) {
    // A bad setting, not a registry failure: the CLI reports ConfigError with exit code 2.
    throw Object.assign(new Error(`BNSERVE_STALE_RUN_SECONDS must be a positive number of seconds, got "${raw}"`), { name: 'ConfigError' });
  }
  return seconds * 1000;
}

export interface OpenRegistryOptions {
  /** Default: env DATABASE_URL, else SQLite file:./data/bnserve.db (relative to the working directory). */
  databaseUrl?: string;
  /** Default: env BNSERVE_ARTIFACTS, else ./data/artifacts. */
  artifactsDir?: string;
  /** Apply pending migrations first (default true). */
  migrate?: boolean;
  /** Called with the migration outcome (timings, applied names). */
  onMigrated?: (result: MigrateResult) => void;
}

/** Opens the registry: resolves the database, applies pending migrations, connects. */
export async function openRegistry(opts: OpenRegistryOptions = {}): Promise<Registry> {
  const target = resolveDatabaseTarget(opts.databaseUrl ?? process.env.DATABASE_URL);
  const artifactsDir = path.resolve(opts.artifactsDir || process.env.BNSERVE_ARTIFACTS || DEFAULT_ARTIFACTS_DIR);
  if (target.filePath) mkdirSync(path.dirname(target.filePath), { recursive: true });
  if (opts.migrate !== false) {
    const result = await applyMigrations(target.url);
    opts.onMigrated?.(result);
  }
  const db = await createPrismaClient(target);
  try {
    await db.$connect();
    // Readers (the server) and a writer (a trainer) then never block each other; persistent per file,
    // so a failure here (another process holds the file) only delays the switch to the next open.
    if (target.provider === 'sqlite') await db.$queryRawUnsafe('PRAGMA journal_mode = WAL').catch(() => undefined);
  } catch (error) {
    await db.$disconnect().catch(() => undefined);
    throw error;
  }
  return new PrismaRegistry(db, new ArtifactStore(artifactsDir));
}
