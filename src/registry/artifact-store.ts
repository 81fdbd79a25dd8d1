// Content-addressed artifact files: <root>/sha256/ab/abcdef….onnx, written atomically and durably
// (temp file, fsync, rename, fsync of the directory) and verified by sha256 when read.
import { createHash } from 'node:crypto';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { readIfExists, writeFileAtomic } from '../lib/durable-fs.ts';
import { isAbandonedTemp } from '../lib/temp-files.ts';
import path from 'node:path';
import { ArtifactMissingError, RegistryError } from './types.ts';

export interface StoredArtifact {
  sha256: string;
  size: number;
  /** Path relative to the store root, with forward slashes: what the registry row records. */
  relativePath: string;
  absolutePath: string;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function artifactRelativePath(sha256: string, extension = 'onnx'): string {
  if (!/^[0-9a-f]{64}$/.test(sha256)) throw new RegistryError('invalid', `not a sha256 hex digest: ${sha256}`);
  return `sha256/${sha256.slice(0, 2)}/${sha256}.${extension}`;
}

export class ArtifactStore {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  resolve(relativePath: string): string {
    const absolute = path.resolve(this.root, relativePath);
    if (!absolute.startsWith(this.root + path.sep)) {
      throw new RegistryError('invalid', `artifact path escapes the store: ${relativePath}`);
    }
    return absolute;
  }

  /** Stores bytes under their sha256; returns once the file and its directory entry are on disk. */
  async put(bytes: Uint8Array, extension = 'onnx'): Promise<StoredArtifact> {
    const sha256 = sha256Hex(bytes);
    const relativePath = artifactRelativePath(sha256, extension);
    const absolutePath = this.resolve(relativePath);
    const stored = { sha256, size: bytes.byteLength, relativePath, absolutePath };

    const existing = await readIfExists(absolutePath);
    if (existing && sha256Hex(existing) === sha256) return stored;

    const dir = path.dirname(absolutePath);
    await mkdir(dir, { recursive: true });
    await writeFileAtomic(absolutePath, bytes);
    return stored;
  }

  /**
   * Removes temp files that a killed writer left in the store (see isAbandonedTemp); returns their
   * names relative to the root. Registered artifacts and anything not named like our temps stay.
   */
  async sweepAbandonedTemps(now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    for (const relativePath of await this.entries()) {
      const file = path.join(this.root, relativePath);
      const info = await stat(file).catch(() => null);
      if (!info?.isFile() || !isAbandonedTemp(path.basename(file), /^[0-9a-f]{64}\.[a-z]+$/, info.mtimeMs, now)) continue;
      await rm(file, { force: true });
      removed.push(relativePath);
    }
    return removed;
  }

  /**
   * How many files in the store were written by a registry (artifacts, and temps of writes under way
   * or abandoned): any of them shows that a registry used this store before.
   */
  async writtenFileCount(): Promise<number> {
    return (await this.entries()).filter((relativePath) => /^[0-9a-f]{64}\./.test(path.basename(relativePath))).length;
  }

  /** Every entry in the shard folders (sha256/ab/…), relative to the root; none when the store does not exist. */
  private async entries(): Promise<string[]> {
    const shards = await readdir(path.join(this.root, 'sha256'), { withFileTypes: true }).catch(() => []);
    const entries: string[] = [];
    for (const shard of shards) {
      if (!shard.isDirectory() || !/^[0-9a-f]{2}$/.test(shard.name)) continue;
      for (const name of await readdir(path.join(this.root, 'sha256', shard.name))) entries.push(`sha256/${shard.name}/${name}`);
    }
    return entries;
  }

  /** Reads an artifact back; RegistryError('integrity') when it is missing or its bytes changed. */
  async read(relativePath: string, expectedSha256: string): Promise<Uint8Array> {
    const absolutePath = this.resolve(relativePath);
    const bytes = await readIfExists(absolutePath);
    if (bytes === null) {
      throw new ArtifactMissingError(absolutePath);
    }
    const actual = sha256Hex(bytes);
    if (actual !== expectedSha256) {
      throw new RegistryError(
        'integrity',
        `artifact ${absolutePath} is corrupt: sha256 ${actual} does not match the registered ${expectedSha256}`,
      );
    }
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
}
