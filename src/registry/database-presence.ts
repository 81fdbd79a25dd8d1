// Notices a registry database that disappears under a running process. An open SQLite connection
// keeps reading and writing a deleted file (its inode lives on until closed), so without this a
// deleted registry goes unnoticed and every later write is silently lost.
import { stat } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { RegistryError } from './types.ts';

export interface DatabasePresence {
  /** Throws RegistryError('unavailable') when the database is no longer the one that was opened. */
  check(): Promise<void>;
}

function fileIdentity(file: string): string {
  const s = statSync(file);
  return `${s.dev}:${s.ino}`;
}

/**
 * For SQLite: the file at `filePath` must still be the one that was opened (same device and inode).
 * A file put back at that path (a restored backup) is reopened with `reopen`, so a process recovers
 * by itself once the database is back; while no file is there, every check fails.
 */
export function sqliteFilePresence(filePath: string, reopen: () => Promise<void>): DatabasePresence {
  let opened = fileIdentity(filePath);
  let reopening: Promise<void> | null = null;
  const current = () =>
    stat(filePath).then(
      (s) => `${s.dev}:${s.ino}`,
      (error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return null;
        throw error;
      },
    );
  return {
    async check() {
      const now = await current();
      if (now === opened) return;
      if (now === null) {
        throw new RegistryError(
          'unavailable',
          `the registry database ${filePath} was deleted while bnserve was running; nothing more is written to it. ` +
            'Put the file back (from a backup) and bnserve reconnects by itself',
        );
      }
      reopening ??= reopen()
        .then(() => {
          opened = now;
        })
        .finally(() => {
          reopening = null;
        });
      await reopening;
    },
  };
}

/** For a server database: one round trip; a refused or cut connection is 'unavailable'. */
export function queryPresence(ping: () => Promise<unknown>, where: string): DatabasePresence {
  return {
    async check() {
      try {
        await ping();
      } catch (error) {
        throw new RegistryError('unavailable', `the registry database at ${where} does not answer: ${(error as Error).message}`);
      }
    },
  };
}
