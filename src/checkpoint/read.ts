// The one reader of checkpoint folders (no tfjs): every JSON file checked against its schema, and the
// layer list with its weights in float64 for the exporter.
import path from 'node:path';
import { z } from 'zod';
import type { TrainConfig } from '../lib/train-config-schema.ts';
import { CheckpointError } from './errors.ts';
import { CONFIG_FILE, MARKER_FILE, METRICS_FILE, MODEL_FILE, PREPROCESSING_FILE } from './files.ts';
import { type CheckpointLayer, parseLayer } from './layers.ts';
import { readCheckpointFile } from './read-file.ts';
import {
  type BnGuard,
  configSchema,
  type LayerJson,
  layerJsonSchema,
  type Marker,
  markerSchema,
  type Metrics,
  type ModelJson,
  metricsSchema,
  modelJsonSchema,
  type Preprocessing,
  preprocessingSchema,
} from './schemas.ts';
import { readWeights } from './weights.ts';

export interface Checkpoint {
  dir: string;
  layers: CheckpointLayer[];
  /** Without the batch dimension: [F] or [H, W, C]. */
  inputShape: number[];
  preprocessing: Preprocessing;
  /** metrics.json's bnGuard, when the file exists and has one. */
  bnGuard: BnGuard | null;
  /** metrics.json's runId, when present. */
  runId: string | null;
}

/** One JSON file of the folder, parsed and checked; every failure is a CheckpointError naming the file. */
async function readJsonFile<Schema extends z.ZodType>(dir: string, file: string, schema: Schema): Promise<z.output<Schema>> {
  const full = path.join(dir, file);
  const text = (await readCheckpointFile(full)).toString('utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(`${full} is not valid JSON: ${(err as Error).message}`);
  }
  const result = schema.safeParse(raw);
  if (!result.success) throw new CheckpointError(`${full}: ${z.prettifyError(result.error)}`);
  return result.data;
}

export const readModelJson = (dir: string): Promise<ModelJson> => readJsonFile(dir, MODEL_FILE, modelJsonSchema);
export const readPreprocessing = (dir: string): Promise<Preprocessing> => readJsonFile(dir, PREPROCESSING_FILE, preprocessingSchema);
export const readConfig = (dir: string): Promise<TrainConfig> => readJsonFile(dir, CONFIG_FILE, configSchema);
export const readMetrics = (dir: string): Promise<Metrics> => readJsonFile(dir, METRICS_FILE, metricsSchema);
export const readMarker = (dir: string): Promise<Marker> => readJsonFile(dir, MARKER_FILE, markerSchema);

/** The whole checkpoint as the exporter needs it: layers with their weights, input shape, preprocessing, BN guard. */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const modelJson = await readModelJson(dir);
  const preprocessing = await readPreprocessing(dir);
  // metrics.json is optional for export: a checkpoint without it exports with no guard and no run id.
  const metrics = await readMetrics(dir).catch(() => null);

  const { layers: layerJson, batchInputShape } = sequentialLayers(modelJson.modelTopology, path.join(dir, MODEL_FILE));
  const weights = await readWeights(dir, modelJson.weightsManifest);
  const layers = layerJson.map((layer) => parseLayer(layer, weights));

  const unused = [...weights.keys()].filter((name) => !layers.some((l) => name.startsWith(`${l.name}/`)));
  if (unused.length > 0) throw new CheckpointError(`weights not belonging to any layer: ${unused.join(', ')}`);

  const inputShape = resolveInputShape(batchInputShape, preprocessing.inputShape);
  return { dir, layers, inputShape, preprocessing, bnGuard: metrics?.bnGuard ?? null, runId: metrics?.runId ?? null };
}

/** tfjs writes a Sequential's layers as config.layers (4.x) or, in older files, as config itself. */
function sequentialLayers(topology: Record<string, unknown>, file: string): { layers: LayerJson[]; batchInputShape: unknown } {
  const model = (topology.model_config ?? topology) as { class_name?: string; config?: unknown };
  if (model.class_name !== 'Sequential') {
    throw new CheckpointError(`${file}: only Sequential models are supported (found ${String(model.class_name)})`);
  }
  const config = model.config as { layers?: unknown } | unknown[] | undefined;
  const raw = Array.isArray(config) ? config : config?.layers;
  if (!Array.isArray(raw) || raw.length === 0) throw new CheckpointError(`${file}: the Sequential model has no layers`);
  const parsed = z.array(layerJsonSchema).safeParse(raw);
  if (!parsed.success) throw new CheckpointError(`${file}: the Sequential model's layers: ${z.prettifyError(parsed.error)}`);
  const all = parsed.data;
  let batchInputShape: unknown = all[0]?.config.batch_input_shape;
  const layers = all.filter((layer) => {
    if (layer.class_name !== 'InputLayer') return true;
    batchInputShape = layer.config.batch_input_shape;
    return false;
  });
  return { layers, batchInputShape };
}

function resolveInputShape(batchInputShape: unknown, fromPreprocessing: number[]): number[] {
  if (!Array.isArray(batchInputShape)) return fromPreprocessing;
  const modelShape = batchInputShape.slice(1);
  const same = modelShape.length === fromPreprocessing.length && modelShape.every((d, i) => d === fromPreprocessing[i]);
  if (!same) {
    throw new CheckpointError(
      `the model's input shape [${modelShape.join(', ')}] differs from ${PREPROCESSING_FILE}'s [${fromPreprocessing.join(', ')}]`,
    );
  }
  return fromPreprocessing;
}
