// Where a checkpoint may be written. bnserve never deletes what it did not write, and file names
// prove nothing (a user's own config.json is named like ours): a folder is replaced only on positive
// evidence that it is an earlier checkpoint, anything else is refused.
import { lstat, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from '../lib/errors.ts';
import { CHECKPOINT_FOLDER_FILES } from './files.ts';
import { readConfig, readMarker, readMetrics, readModelJson, readPreprocessing } from './read.ts';
import { readWeights } from './weights.ts';

const folderFileNames: ReadonlySet<string> = new Set(CHECKPOINT_FOLDER_FILES);

/** Only regular files named like a checkpoint's, or nothing. */
export async function holdsOnlyCheckpointFileNames(dir: string): Promise<boolean> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries.every((entry) => entry.isFile() && folderFileNames.has(entry.name));
}

/** Our marker, naming the run that metrics.json names. */
async function hasOurMarker(dir: string): Promise<boolean> {
  try {
    const [marker, metrics] = await Promise.all([readMarker(dir), readMetrics(dir)]);
    return marker.runId === (metrics.runId ?? null);
  } catch {
    return false;
  }
}

/** A checkpoint written before the marker existed: all five files parse, and metrics.json names its run. */
async function isUnmarkedCheckpoint(dir: string): Promise<boolean> {
  try {
    const modelJson = await readModelJson(dir);
    await readWeights(dir, modelJson.weightsManifest);
    await Promise.all([readPreprocessing(dir), readConfig(dir)]);
    return typeof (await readMetrics(dir)).runId === 'string';
  } catch {
    return false;
  }
}

/** An empty folder, or an earlier checkpoint (and nothing else): a folder that may be replaced. */
async function isReplaceable(dir: string): Promise<boolean> {
  if ((await readdir(dir)).length === 0) return true;
  if (!(await holdsOnlyCheckpointFileNames(dir))) return false;
  return (await hasOurMarker(dir)) || (await isUnmarkedCheckpoint(dir));
}

/** The real path of `target`, or of its nearest existing ancestor joined with the rest. */
async function realPathOf(target: string): Promise<string> {
  try {
    return await realpath(target);
  } catch {
    const parent = path.dirname(target);
    return parent === target ? target : path.join(await realPathOf(parent), path.basename(target));
  }
}

async function assertKeepsFiles(target: string, keep: Record<string, string>): Promise<void> {
  const folder = await realPathOf(target);
  for (const [what, file] of Object.entries(keep)) {
    const given = path.resolve(file);
    const real = await realPathOf(given);
    const relative = path.relative(folder, real);
    if (relative === '' || (!relative.startsWith('..') && !path.isAbsolute(relative))) {
      const shown = real === given ? given : `${given} (${real})`;
      throw new ConfigError(
        `the checkpoint folder ${target} ${relative === '' ? 'is' : 'holds'} ${what} ${shown}, which writing the checkpoint would replace: ` +
          'choose another checkpoint folder, or move that file out of it',
      );
    }
  }
}

/**
 * Refuses a checkpoint destination that would cost the user something: a file, a folder that is
 * or holds one of `keep` (e.g. {"the --config file": path}), or a folder that is neither empty nor
 * an earlier checkpoint (bnserve's marker, or, from before the marker, all five files parsing).
 * Called before training (so nothing is wasted) and again just before the checkpoint is written.
 */
export async function assertCheckpointDestination(dir: string, keep: Record<string, string> = {}): Promise<void> {
  const target = path.resolve(dir);
  await assertKeepsFiles(target, keep);
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new ConfigError(`cannot use ${target} as the checkpoint folder: ${(error as Error).message}`);
  }
  if (!info.isDirectory())
    throw new ConfigError(`the checkpoint folder ${target} is not a folder (a file or a link); choose a new or empty folder`);
  if (!(await isReplaceable(target))) {
    throw new ConfigError(
      `the checkpoint folder ${target} already holds files that are not a bnserve checkpoint; bnserve never deletes them: ` +
        'choose a new or empty folder (or an earlier checkpoint folder, which is replaced)',
    );
  }
}
