// The one writer of checkpoint folders (no tfjs: the trainer hands over the serialised model).
import type { Dirent } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDirectory, writeFileDurably } from '../lib/durable-fs.ts';
import { isAbandonedTemp, tempPathFor } from '../lib/temp-files.ts';
import { assertCheckpointDestination, holdsOnlyCheckpointFileNames } from './destination.ts';
import { CONFIG_FILE, MARKER_FILE, METRICS_FILE, MODEL_FILE, PREPROCESSING_FILE, WEIGHTS_FILE } from './files.ts';
import { CHECKPOINT_FORMAT, CHECKPOINT_FORMAT_VERSION, type Marker, type Preprocessing } from './schemas.ts';

/** What a checkpoint holds, as plain data: model.json's object and weights.bin's bytes come from the trainer's serialiser. */
export interface CheckpointContents {
  modelJson: object;
  weights: Uint8Array;
  preprocessing: Preprocessing;
  config: unknown;
  /** Its runId (the registered run that trained it, when there is one) is repeated in the marker file. */
  metrics: unknown;
}

const ANY_NAME = /./;

function markerFor(metrics: unknown): Marker {
  const runId = (metrics as { runId?: unknown } | null)?.runId;
  return { format: CHECKPOINT_FORMAT, formatVersion: CHECKPOINT_FORMAT_VERSION, runId: typeof runId === 'string' ? runId : null };
}

/**
 * Removes temp folders left in `parent` by trainers killed mid-save: only folders named like ours
 * whose writer is gone (see isAbandonedTemp), and which hold nothing but checkpoint files.
 * Returns the removed paths.
 */
export async function sweepStaleTempFolders(parent: string): Promise<string[]> {
  const removed: string[] = [];
  let entries: Dirent[];
  try {
    entries = await readdir(parent, { withFileTypes: true });
  } catch {
    return removed;
  }
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const folder = path.join(parent, entry.name);
    try {
      if (!isAbandonedTemp(entry.name, ANY_NAME, (await lstat(folder)).mtimeMs)) continue;
      if (!(await holdsOnlyCheckpointFileNames(folder))) continue;
      await rm(folder, { recursive: true, force: true });
      removed.push(folder);
    } catch {
      // Raced with another sweeper, or unreadable: not ours to worry about.
    }
  }
  return removed;
}

/**
 * Writes the checkpoint (with the marker file that says bnserve wrote it) into a sibling temp folder,
 * then renames it into place, so a reader sees either the whole checkpoint or none. An earlier
 * checkpoint at `dir` is replaced (it is moved aside first and removed only once the new one is in
 * place); anything else is refused (see assertCheckpointDestination).
 */
export async function writeCheckpoint(dir: string, contents: CheckpointContents): Promise<void> {
  const target = path.resolve(dir);
  await assertCheckpointDestination(target);
  await mkdir(path.dirname(target), { recursive: true });
  await sweepStaleTempFolders(path.dirname(target));
  const temp = tempPathFor(target);
  const previous = `${target}.old-${process.pid}-${Date.now()}`;
  await mkdir(temp);
  let movedAside = false;
  try {
    await writeFileDurably(path.join(temp, MODEL_FILE), JSON.stringify(contents.modelJson));
    await writeFileDurably(path.join(temp, WEIGHTS_FILE), contents.weights);
    await writeFileDurably(path.join(temp, PREPROCESSING_FILE), JSON.stringify(contents.preprocessing, null, 2));
    await writeFileDurably(path.join(temp, CONFIG_FILE), JSON.stringify(contents.config, null, 2));
    await writeFileDurably(path.join(temp, METRICS_FILE), JSON.stringify(contents.metrics, null, 2));
    await writeFileDurably(path.join(temp, MARKER_FILE), `${JSON.stringify(markerFor(contents.metrics), null, 2)}\n`);
    // Checked again: the folder may have gained files while we trained.
    await assertCheckpointDestination(target);
    try {
      await rename(target, previous);
      movedAside = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await rename(temp, target);
    await fsyncDirectory(path.dirname(target));
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    if (movedAside) await rename(previous, target).catch(() => {});
    throw error;
  }
  if (movedAside) await rm(previous, { recursive: true, force: true });
}
