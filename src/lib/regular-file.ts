// Reading a file named by a config without letting it hang or exhaust the process: regular files
// only (opening a FIFO for reading blocks until a writer comes; /dev/zero never ends) and never more
// bytes than a limit, however large the file is or grows while it is read.
import { constants, type Stats } from 'node:fs';
import { type FileHandle, open, stat } from 'node:fs/promises';
import { DataError } from './data-error.ts';

export interface ReadLimit {
  maxBytes: number;
  /** The setting that raises the limit, named in the too-large message. */
  setting?: string;
}

const MiB = 1024 * 1024;
const CHUNK_BYTES = MiB;

function formatBytes(bytes: number): string {
  if (bytes >= 1024 * MiB) return `${(bytes / (1024 * MiB)).toFixed(1)} GiB`;
  if (bytes >= MiB) return `${Number((bytes / MiB).toFixed(1))} MiB`;
  return `${bytes} bytes`;
}

/** `what`: "is 1.9 GiB", or how it came to be too large. */
function tooLarge(file: string, what: string, limit: ReadLimit): DataError {
  const raise = limit.setting ? `; raise ${limit.setting} to read it` : '';
  return new DataError(`${file} ${what}, over the ${formatBytes(limit.maxBytes)} limit on data files${raise}`);
}

function assertReadable(file: string, info: Stats, limit: ReadLimit): void {
  if (!info.isFile()) {
    const kind = info.isDirectory() ? 'a folder' : info.isFIFO() ? 'a pipe' : info.isCharacterDevice() ? 'a device' : 'not a regular file';
    throw new DataError(`${file} is ${kind}: only regular files are read`);
  }
  if (info.size > limit.maxBytes) throw tooLarge(file, `is ${formatBytes(info.size)}`, limit);
}

function cannotRead(file: string, error: unknown): DataError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(error));
  return new DataError(`cannot read ${file}: ${reason}`);
}

/** Throws a DataError unless `file` is, by path, a regular file within the limit; opens nothing. */
export async function checkRegularFile(file: string, limit: ReadLimit): Promise<void> {
  let info: Stats;
  try {
    info = await stat(file);
  } catch (error) {
    throw cannotRead(file, error);
  }
  assertReadable(file, info, limit);
}

/**
 * Opens `file` for reading once it is known to be a regular file within the limit: checked by path
 * before opening, and again on the open handle (the path may have been swapped meanwhile; the open
 * is non-blocking so that a FIFO swapped in cannot block it). The caller closes the handle.
 */
export async function openRegularFile(file: string, limit: ReadLimit): Promise<{ handle: FileHandle; size: number }> {
  await checkRegularFile(file, limit);
  let handle: FileHandle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw cannotRead(file, error);
  }
  try {
    const opened = await handle.stat();
    assertReadable(file, opened, limit);
    return { handle, size: opened.size };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The handle's bytes in chunks from the start; past `limit.maxBytes` (a file growing while read) it throws. */
export async function* readChunks(handle: FileHandle, file: string, limit: ReadLimit): AsyncGenerator<Buffer> {
  let total = 0;
  for (;;) {
    const buffer = Buffer.allocUnsafe(CHUNK_BYTES);
    let bytesRead: number;
    try {
      ({ bytesRead } = await handle.read(buffer, 0, CHUNK_BYTES, total));
    } catch (error) {
      throw cannotRead(file, error);
    }
    if (bytesRead === 0) return;
    total += bytesRead;
    if (total > limit.maxBytes) throw tooLarge(file, 'grew while being read', limit);
    yield buffer.subarray(0, bytesRead);
  }
}

/** A regular file's whole content, at most `limit.maxBytes`. */
export async function readRegularFile(file: string, limit: ReadLimit): Promise<Buffer> {
  const { handle } = await openRegularFile(file, limit);
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of readChunks(handle, file, limit)) chunks.push(chunk);
    return Buffer.concat(chunks);
  } finally {
    await handle.close();
  }
}
