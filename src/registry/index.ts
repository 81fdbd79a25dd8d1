import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { readSettings, SETTINGS } from '../settings.ts';
import { ArtifactStore } from './artifact-store.ts';
import { queryPresence, sqliteFilePresence } from './database-presence.ts';
import { redactPassword, resolveDatabaseTarget, type DatabaseTarget } from './database-url.ts';
import { applyMigrations, type MigrateResult } from './migrate.ts';
import { createPrismaClient } from './prisma-client.ts';
import { PrismaRegistry } from './registry.ts';
import { RegistryError, type Registry } from './types.ts';

export * from './types.ts';
export { applyMigrations, type MigrateResult } from './migrate.ts';
export { ArtifactStore, sha256Hex } from './artifact-store.ts';
export { resolveDatabaseTarget, type DatabaseTarget } from './database-url.ts';
export { startHeartbeat } from './heartbeat.ts';

/** How often a trainer should heartbeat, and after how long without one its run counts as dead. */
export const HEARTBEAT_INTERVAL_MS = 5_000;
export const STALE_RUN_MS = SETTINGS.BNSERVE_STALE_RUN_SECONDS.fallback * 1000;
/** A serving process waits at most this long for a SQLite lock held by another process (see SQLITE_BUSY_TIMEOUT_MS). */
export const SERVER_SQLITE_BUSY_TIMEOUT_MS = 250;

/** BNSERVE_STALE_RUN_SECONDS (src/settings.ts) in milliseconds; it must stay well above the heartbeat interval. */
export function staleRunMs(env: NodeJS.ProcessEnv = process.env): number {
  return readSettings(['BNSERVE_STALE_RUN_SECONDS'], env).BNSERVE_STALE_RUN_SECONDS * 1000;
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
  /**
   * When a SQLite database file does not exist yet:
   * 'first-start' (default) creates it only if the artifact store is empty too (nothing was ever
   * registered here); 'always' creates it (`bnserve migrate`); 'never' refuses (read-only commands).
   */
  createDatabase?: 'first-start' | 'always' | 'never';
  /** SQLite: how long a statement waits for another process's lock (default 15 s; servers pass less). */
  busyTimeoutMs?: number;
}

/** A missing SQLite file is created only where that cannot hide a lost registry (see createDatabase). */
async function assertMayCreate(target: DatabaseTarget, store: ArtifactStore, mode: OpenRegistryOptions['createDatabase']): Promise<void> {
  if (!target.filePath || existsSync(target.filePath) || mode === 'always') return;
  if (mode === 'never') {
    throw new RegistryError(
      'unavailable',
      `there is no registry at ${target.filePath} yet: train a model (\`bnserve train\`, \`npm start\`) or run \`bnserve migrate\` to create it, ` +
        'or point DATABASE_URL at an existing one',
    );
  }
  const artifacts = await store.writtenFileCount();
  if (artifacts > 0) {
    throw new RegistryError(
      'unavailable',
      `the registry database ${target.filePath} is missing, but the artifact store ${store.root} holds ${artifacts} registered model file(s): ` +
        'the database was deleted or moved. Restore it from a backup, point DATABASE_URL at it, ' +
        'or run `bnserve migrate` to start a new, empty registry deliberately',
    );
  }
}

/** Opens the registry: resolves the database, applies pending migrations, connects. */
export async function openRegistry(opts: OpenRegistryOptions = {}): Promise<Registry> {
  const target = resolveDatabaseTarget(opts.databaseUrl ?? readSettings(['DATABASE_URL']).DATABASE_URL);
  const artifactsDir = path.resolve(opts.artifactsDir || readSettings(['BNSERVE_ARTIFACTS']).BNSERVE_ARTIFACTS);
  const store = new ArtifactStore(artifactsDir);
  await assertMayCreate(target, store, opts.createDatabase ?? 'first-start');
  if (target.filePath) mkdirSync(path.dirname(target.filePath), { recursive: true });
  if (opts.migrate !== false) {
    const result = await applyMigrations(target.url);
    opts.onMigrated?.(result);
  }
  const db = await createPrismaClient(target, opts.busyTimeoutMs);
  try {
    await db.$connect();
    // Readers (the server) and a writer (a trainer) then never block each other; persistent per file,
    // so a failure here (another process holds the file) only delays the switch to the next open.
    if (target.provider === 'sqlite') await db.$queryRawUnsafe('PRAGMA journal_mode = WAL').catch(() => undefined);
  } catch (error) {
    await db.$disconnect().catch(() => undefined);
    throw error;
  }
  const presence = target.filePath
    ? sqliteFilePresence(target.filePath, async () => {
        await db.$disconnect();
        await db.$connect();
      })
    : queryPresence(() => db.$queryRawUnsafe('SELECT 1'), redactPassword(target.url));
  return new PrismaRegistry(db, store, presence);
}
