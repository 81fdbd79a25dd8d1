// The one writer of checkpoint folders (no tfjs: the trainer hands over the serialised model).
import type { Dirent } from 'node:fs';
import { lstat, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDirectory, writeFileDurably } from '../lib/durable-fs.ts';
import { isAbandonedTemp, tempPathFor } from '../lib/temp-files.ts';
import { ConfigError } from '../lib/errors.ts';
import { CHECKPOINT_FILES, CONFIG_FILE, METRICS_FILE, MODEL_FILE, PREPROCESSING_FILE, WEIGHTS_FILE } from './files.ts';
import type { Preprocessing } from './schemas.ts';

/** What a checkpoint holds, as plain data: model.json's object and weights.bin's bytes come from the trainer's serialiser. */
export interface CheckpointContents {
  modelJson: object;
  weights: Uint8Array;
  preprocessing: Preprocessing;
  config: unknown;
  metrics: unknown;
}

const ANY_NAME = /./;
const checkpointFileNames: ReadonlySet<string> = new Set(CHECKPOINT_FILES);

/** Only our own files (or nothing): a folder we may replace or remove without losing anything of the user's. */
async function holdsOnlyCheckpointFiles(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.every((entry) => entry.isFile() && checkpointFileNames.has(entry.name));
}

/**
 * Refuses a checkpoint destination that would cost the user something: a file, or a folder holding
 * anything but a bnserve checkpoint's own files. A missing or empty folder, or an earlier checkpoint,
 * is fine. Called before training (so nothing is wasted) and again just before the checkpoint is written.
 */
export async function assertCheckpointDestination(dir: string): Promise<void> {
  const target = path.resolve(dir);
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ConfigError(`cannot use ${target} as the checkpoint folder: ${(error as Error).message}`);
  }
  if (!info.isDirectory())
    throw new ConfigError(`the checkpoint folder ${target} is not a folder (a file or a link); choose a new or empty folder`);
  if (!(await holdsOnlyCheckpointFiles(target))) {
    throw new ConfigError(
      `the checkpoint folder ${target} already holds files that are not a bnserve checkpoint; bnserve never deletes them: ` +
        'choose a new or empty folder (or an earlier checkpoint folder, which is replaced)',
    );
  }
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
      if (!(await holdsOnlyCheckpointFiles(folder))) continue;
      await rm(folder, { recursive: true, force: true });
      removed.push(folder);
    } catch {
      // Raced with another sweeper, or unreadable: not ours to worry about.
    }
  }
  return removed;
}

/**
 * Writes the checkpoint into a sibling temp folder, then renames it into place, so a reader sees
 * either the whole checkpoint or none. An earlier checkpoint at `dir` is replaced (it is moved aside
 * first and removed only once the new one is in place); a folder holding anything else is refused.
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
