import type { Dirent } from 'node:fs';
import { lstat, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { fsyncDirectory, writeFileDurably } from '../lib/durable-fs.ts';
import { isAbandonedTemp, tempPathFor } from '../lib/temp-files.ts';

const ANY_NAME = /./;
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { skipCpuBackendAdvice } from './cpu-backend-advice.ts';
import { ConfigError } from './config.ts';

export type { Preprocessing } from './preprocessing.ts';
import type { Preprocessing } from './preprocessing.ts';

export interface CheckpointParts {
  model: tf.LayersModel;
  preprocessing: Preprocessing;
  config: unknown;
  metrics: unknown;
}

export const CHECKPOINT_FILES = ['model.json', 'weights.bin', 'preprocessing.json', 'config.json', 'metrics.json'] as const;

function joinWeightData(data: tf.io.WeightData | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const buffer of buffers) {
    out.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return out;
}

/** Serialises a tfjs model to model.json + weights.bin contents (layers format, moving statistics included). */
export async function serializeModel(model: tf.LayersModel): Promise<{ modelJson: object; weights: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('tfjs did not hand over the model artifacts');
  const modelJson = {
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: 'bnserve',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs ?? [] }],
  };
  return { modelJson, weights: joinWeightData(artifacts.weightData) };
}

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
export async function saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void> {
  const target = path.resolve(dir);
  await assertCheckpointDestination(target);
  await mkdir(path.dirname(target), { recursive: true });
  await sweepStaleTempFolders(path.dirname(target));
  const temp = tempPathFor(target);
  const previous = `${target}.old-${process.pid}-${Date.now()}`;
  await mkdir(temp);
  let movedAside = false;
  try {
    const { modelJson, weights } = await serializeModel(parts.model);
    await writeFileDurably(path.join(temp, 'model.json'), JSON.stringify(modelJson));
    await writeFileDurably(path.join(temp, 'weights.bin'), weights);
    await writeFileDurably(path.join(temp, 'preprocessing.json'), JSON.stringify(parts.preprocessing, null, 2));
    await writeFileDurably(path.join(temp, 'config.json'), JSON.stringify(parts.config, null, 2));
    await writeFileDurably(path.join(temp, 'metrics.json'), JSON.stringify(parts.metrics, null, 2));
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

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** Loads model.json + weights.bin back into a tfjs model (no file:// handler needed). */
export async function loadCheckpointModel(dir: string): Promise<tf.LayersModel> {
  await skipCpuBackendAdvice();
  const modelJson = await readJson<tf.io.ModelJSON>(path.join(dir, 'model.json'));
  const handler: tf.io.IOHandler = {
    load: async () =>
      tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const buffers = await Promise.all(manifest.flatMap((group) => group.paths).map((p) => readFile(path.join(dir, p))));
        const specs = manifest.flatMap((group) => group.weights);
        const joined = Buffer.concat(buffers);
        return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength)];
      }),
  };
  return tf.loadLayersModel(handler);
}

export async function loadPreprocessing(dir: string): Promise<Preprocessing> {
  return readJson<Preprocessing>(path.join(dir, 'preprocessing.json'));
}
