import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { fsyncDirectory, writeFileDurably } from '../lib/durable-fs.ts';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';

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

/**
 * Writes the checkpoint into a sibling temp folder, then renames it into place, so a reader
 * sees either the whole checkpoint or none (an older one at `dir` is replaced).
 */
export async function saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void> {
  const target = path.resolve(dir);
  const temp = `${target}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(temp, { recursive: true });
  try {
    const { modelJson, weights } = await serializeModel(parts.model);
    await writeFileDurably(path.join(temp, 'model.json'), JSON.stringify(modelJson));
    await writeFileDurably(path.join(temp, 'weights.bin'), weights);
    await writeFileDurably(path.join(temp, 'preprocessing.json'), JSON.stringify(parts.preprocessing, null, 2));
    await writeFileDurably(path.join(temp, 'config.json'), JSON.stringify(parts.config, null, 2));
    await writeFileDurably(path.join(temp, 'metrics.json'), JSON.stringify(parts.metrics, null, 2));
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
    await fsyncDirectory(path.dirname(target));
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  }
}

export async function readJson<T>(file: string): Promise<T> {
  return JSON.parse(await readFile(file, 'utf8')) as T;
}

/** Loads model.json + weights.bin back into a tfjs model (no file:// handler needed). */
export async function loadCheckpointModel(dir: string): Promise<tf.LayersModel> {
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
