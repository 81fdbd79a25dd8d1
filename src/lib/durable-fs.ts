import { link, lstat, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { tempPathFor } from './temp-files.ts';

/** Flushes a directory entry (a rename or a new file) to disk. */
export async function fsyncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes and fsyncs a file in place (for files inside a folder that is itself renamed into place). */
export async function writeFileDurably(file: string, data: string | Uint8Array, flags = 'w'): Promise<void> {
  const handle = await open(file, flags, 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Readers see the old file or the whole new one, never a part: the bytes go to a uniquely named
 * temp file beside the target, are fsynced, renamed over it, and the rename itself is fsynced.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const temp = tempPathFor(file);
  try {
    await writeFileDurably(temp, data, 'wx');
    await rename(temp, file);
    await fsyncDirectory(path.dirname(file));
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** Filesystems without hard links answer link() with one of these. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Like writeFileAtomic, but never replaces a file that exists: the fsynced temp file is hard-linked
 * to the target, which fails when the target exists. Returns 'exists' (and writes nothing) then.
 * Where hard links are not supported it checks, then renames (a concurrent writer could slip between).
 */
export async function createFileAtomic(file: string, data: string | Uint8Array): Promise<'created' | 'exists'> {
  const temp = tempPathFor(file);
  try {
    await writeFileDurably(temp, data, 'wx');
    return await publishTempFile(temp, file, { replace: false });
  } finally {
    await rm(temp, { force: true });
  }
}

/**
 * Puts an fsynced temp file (written beside `file`) in place and fsyncs the folder: `replace` renames
 * it over whatever is there; otherwise it is hard-linked, so an existing `file` is never replaced
 * ('exists', nothing changed; where hard links are not supported: checked, then renamed). The caller
 * removes the temp file afterwards (a link leaves it; rm with force is harmless after a rename).
 */
export async function publishTempFile(temp: string, file: string, { replace }: { replace: boolean }): Promise<'created' | 'exists'> {
  if (replace) {
    await rename(temp, file);
  } else {
    try {
      await link(temp, file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (code === 'EEXIST') return 'exists';
      if (!NO_HARD_LINKS.has(code)) throw error;
      if (await lstat(file).catch(() => null)) return 'exists';
      await rename(temp, file);
    }
  }
  await fsyncDirectory(path.dirname(file));
  return 'created';
}

/** A file's bytes, or null when it does not exist (other read errors throw). */
export async function readIfExists(file: string): Promise<Buffer | null> {
  try {
    return await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}
