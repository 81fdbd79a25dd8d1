// What is at a path about to be written, checked before anything is written: a file where a folder
// is needed (or the reverse) is then one clear ConfigError, not an ENOTDIR or EISDIR half-way through.
import { lstat, stat } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './errors.ts';

export type PathKind = 'missing' | 'file' | 'folder' | 'other';

/**
 * What `target` is: a regular file, a folder, something else (a link when `followLinks` is false,
 * a FIFO, a device), or nothing. Below a file (ENOTDIR) reads as missing: see blockingAncestor.
 */
export async function pathKind(target: string, { followLinks = true } = {}): Promise<PathKind> {
  try {
    const info = followLinks ? await stat(target) : await lstat(target);
    return info.isFile() ? 'file' : info.isDirectory() ? 'folder' : 'other';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'missing';
    throw new ConfigError(`cannot use ${target}: ${code ?? String(error)}`);
  }
}

/** The nearest existing ancestor of `target` when it is not a folder (nothing can be created below it); else null. */
export async function blockingAncestor(target: string): Promise<string | null> {
  let dir = path.dirname(path.resolve(target));
  for (;;) {
    const kind = await pathKind(dir);
    if (kind === 'folder') return null;
    if (kind !== 'missing') return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}
