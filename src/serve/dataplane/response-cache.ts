// Triton's response cache: a model version's answers by the exact bytes of the request's inputs and
// the outputs it asked for, least recently used evicted by size. Never shared between versions (the
// version is in the key); a hit answers with the stored tensors, so its bytes equal the first answer's.
import { createHash } from 'node:crypto';
import type { OutputTensor } from './tensors.ts';
import type { ElementArray } from './tensor-data.ts';

export interface CacheFeed {
  data: ElementArray;
  dims: readonly number[];
}

/** sha256 over the version, the requested outputs and every input's name, shape, element type and bytes. */
export function responseCacheKey(model: string, version: number, outputs: readonly string[], feeds: Record<string, CacheFeed>): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify([model, version, outputs]));
  for (const name of Object.keys(feeds).sort()) {
    const { data, dims } = feeds[name];
    hash.update(JSON.stringify([name, dims, data.constructor.name]));
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

const sizeOf = (outputs: readonly OutputTensor[]) => outputs.reduce((n, t) => n + t.data.byteLength + 64, 64);

export class ResponseCache {
  private readonly entries = new Map<string, { outputs: OutputTensor[]; bytes: number }>();
  private bytes = 0;

  constructor(readonly maxBytes: number) {}

  get size(): { entries: number; bytes: number } {
    return { entries: this.entries.size, bytes: this.bytes };
  }

  get(key: string): OutputTensor[] | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    // Most recently used last: Map keeps insertion order.
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.outputs;
  }

  /** Stores copies (the caller's tensors may be views of a batch); an answer larger than the cache is not stored. */
  set(key: string, outputs: readonly OutputTensor[]): void {
    const bytes = sizeOf(outputs);
    if (bytes > this.maxBytes || this.entries.has(key)) return;
    const copies = outputs.map((t) => ({ ...t, shape: [...t.shape], data: t.data.slice() as OutputTensor['data'] }));
    this.entries.set(key, { outputs: copies, bytes });
    this.bytes += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.bytes <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.bytes -= entry.bytes;
    }
  }

  /** Drops every answer of a version (released or replaced). */
  clear(): void {
    this.entries.clear();
    this.bytes = 0;
  }
}
