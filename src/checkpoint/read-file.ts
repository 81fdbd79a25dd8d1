import { readFile } from 'node:fs/promises';
import { CheckpointError } from './errors.ts';

/** One file of a checkpoint folder; a missing or unreadable one is a CheckpointError naming it. */
export async function readCheckpointFile(full: string): Promise<Buffer> {
  try {
    return await readFile(full);
  } catch (err) {
    throw new CheckpointError(`cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}
