import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MigrationList } from '@prisma/schema-engine-wasm';
import type { DatabaseProvider } from './database-url.ts';

export const PRISMA_DIR = fileURLToPath(new URL('../../prisma/', import.meta.url));

export function schemaFileFor(provider: DatabaseProvider): string {
  return path.join(PRISMA_DIR, provider === 'sqlite' ? 'schema.prisma' : 'postgresql/schema.prisma');
}

export function migrationsDirFor(provider: DatabaseProvider): string {
  return path.join(PRISMA_DIR, 'migrations', provider);
}

/** The checksum Prisma stores in _prisma_migrations.checksum. */
export function migrationChecksum(script: string): string {
  return createHash('sha256').update(script).digest('hex');
}

/** Reads a migrations folder the way the Prisma CLI does (sorted subfolders with migration.sql). */
export async function readMigrationsFolder(baseDir: string): Promise<MigrationList> {
  const lockfilePath = 'migration_lock.toml';
  const lockfileContent = await readFile(path.join(baseDir, lockfilePath), 'utf8').catch(() => null);
  const entries = await readdir(baseDir, { withFileTypes: true }).catch(() => []);
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort((a, b) => a.localeCompare(b));
  const migrationDirectories = await Promise.all(
    names.map(async (name) => ({
      path: name,
      migrationFile: {
        path: 'migration.sql',
        content: await readFile(path.join(baseDir, name, 'migration.sql'), 'utf8').then(
          (value) => ({ tag: 'ok' as const, value }),
          (error: Error) => ({ tag: 'error' as const, value: error.message }),
        ),
      },
    })),
  );
  return {
    baseDir,
    lockfile: { path: lockfilePath, content: lockfileContent },
    shadowDbInitScript: '',
    migrationDirectories,
  };
}
