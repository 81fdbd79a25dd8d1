// Reads a trainer checkpoint as plain files (no tfjs): the layer list with its weights in float64,
// the input shape, the preprocessing and (when present) the training metrics.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { ExportError } from './errors.ts';

export type Activation =
  | 'linear'
  | 'relu'
  | 'relu6'
  | 'sigmoid'
  | 'tanh'
  | 'elu'
  | 'softplus'
  | 'softmax'
  | 'selu'
  | 'softsign'
  | 'hardSigmoid'
  | 'swish';

const ACTIVATIONS: Record<string, Activation> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  tanh: 'tanh',
  elu: 'elu',
  softplus: 'softplus',
  softmax: 'softmax',
  selu: 'selu',
  softsign: 'softsign',
  hardSigmoid: 'hardSigmoid',
  hard_sigmoid: 'hardSigmoid',
  swish: 'swish',
};

export type Padding = 'same' | 'valid';

export type CheckpointLayer =
  | {
      kind: 'dense';
      name: string;
      units: number;
      activation: Activation;
      kernel: Float64Array;
      kernelShape: number[];
      bias: Float64Array | null;
    }
  | {
      kind: 'conv2d';
      name: string;
      filters: number;
      kernelSize: [number, number];
      strides: [number, number];
      dilations: [number, number];
      padding: Padding;
      activation: Activation;
      kernel: Float64Array;
      kernelShape: number[];
      bias: Float64Array | null;
    }
  | {
      kind: 'batchNormalization';
      name: string;
      epsilon: number;
      /** -1, or the positive index of the last axis (batch included); checked against the input rank later. */
      axis: number;
      gamma: Float64Array;
      beta: Float64Array;
      movingMean: Float64Array;
      movingVariance: Float64Array;
    }
  | { kind: 'pool'; name: string; type: 'max' | 'avg'; poolSize: [number, number]; strides: [number, number]; padding: Padding }
  | { kind: 'flatten'; name: string }
  | { kind: 'activation'; name: string; activation: Activation }
  | { kind: 'dropout'; name: string };

import type { Preprocessing } from '../train/preprocessing.ts';

export type { Preprocessing };

export interface BnGuard {
  stale: boolean;
  residual?: number;
  steps?: number;
  message?: string;
  /** Per BN layer: moving statistics against the data reaching it (see src/train/bn-check.ts). */
  layers?: { name: string; meanGap: number; varianceRatio: number }[];
}

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

interface WeightSpec {
  name: string;
  shape: number[];
  dtype?: string;
  quantization?: unknown;
}

interface WeightGroup {
  paths: string[];
  weights: WeightSpec[];
}

interface LayerJson {
  class_name: string;
  config: Record<string, unknown>;
}

type WeightTable = Map<string, { shape: number[]; values: Float64Array }>;

export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const modelJson = await readJson(dir, 'model.json');
  const preprocessing = parsePreprocessing(await readJson(dir, 'preprocessing.json'));
  const { bnGuard, runId } = await readMetricsSummary(dir);

  const topology = (modelJson as { modelTopology?: unknown }).modelTopology;
  const manifest = (modelJson as { weightsManifest?: unknown }).weightsManifest;
  if (!topology || typeof topology !== 'object') throw new ExportError(`${dir}/model.json has no modelTopology`);
  if (!Array.isArray(manifest)) throw new ExportError(`${dir}/model.json has no weightsManifest`);

  const { layers: layerJson, batchInputShape } = sequentialLayers(topology as Record<string, unknown>, dir);
  const weights = await readWeights(dir, manifest as WeightGroup[]);
  const layers = layerJson.map((layer) => parseLayer(layer, weights));

  const unused = [...weights.keys()].filter((name) => !layers.some((l) => name.startsWith(`${l.name}/`)));
  if (unused.length > 0) throw new ExportError(`weights not belonging to any layer: ${unused.join(', ')}`);

  const inputShape = resolveInputShape(batchInputShape, preprocessing.inputShape);
  return { dir, layers, inputShape, preprocessing, bnGuard, runId };
}

async function readJson(dir: string, file: string): Promise<unknown> {
  const full = path.join(dir, file);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (err) {
    throw new ExportError(`cannot read ${full}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ExportError(`${full} is not valid JSON: ${(err as Error).message}`);
  }
}

/** metrics.json is optional for export: a checkpoint without it exports with no guard and no run id. */
async function readMetricsSummary(dir: string): Promise<{ bnGuard: BnGuard | null; runId: string | null }> {
  let metrics: { bnGuard?: BnGuard; runId?: unknown };
  try {
    metrics = JSON.parse(await readFile(path.join(dir, 'metrics.json'), 'utf8'));
  } catch {
    return { bnGuard: null, runId: null };
  }
  const guard = metrics.bnGuard;
  return {
    bnGuard: guard && typeof guard.stale === 'boolean' ? guard : null,
    runId: typeof metrics.runId === 'string' ? metrics.runId : null,
  };
}

function parsePreprocessing(raw: unknown): Preprocessing {
  const p = raw as Partial<Preprocessing>;
  const problems: string[] = [];
  if (p.task !== 'classification' && p.task !== 'regression') problems.push('task must be "classification" or "regression"');
  if (!isNumberArray(p.inputShape) || p.inputShape.length === 0) problems.push('inputShape must be a non-empty number array');
  if (!isNumberArray(p.mean)) problems.push('mean must be a number array');
  if (!isNumberArray(p.std)) problems.push('std must be a number array');
  else if (p.std.some((s) => !(s > 0) || !Number.isFinite(s))) problems.push('every std must be finite and > 0');
  if (!Array.isArray(p.featureNames)) problems.push('featureNames must be an array');
  if (p.task === 'classification' && (!Array.isArray(p.classLabels) || p.classLabels.length === 0)) {
    problems.push('classLabels must be a non-empty array for classification');
  }
  if (problems.length > 0) throw new ExportError(`preprocessing.json: ${problems.join('; ')}`);
  const channels = p.inputShape![p.inputShape!.length - 1];
  if (p.mean!.length !== channels || p.std!.length !== channels) {
    throw new ExportError(
      `preprocessing.json: mean/std have ${p.mean!.length}/${p.std!.length} entries, expected ${channels} (last axis of inputShape)`,
    );
  }
  return { ...(p as Preprocessing), classLabels: p.classLabels ?? [], featureNames: p.featureNames ?? [] };
}

function isNumberArray(x: unknown): x is number[] {
  return Array.isArray(x) && x.every((v) => typeof v === 'number' && Number.isFinite(v));
}

/** tfjs writes a Sequential's layers as config.layers (4.x) or, in older files, as config itself. */
function sequentialLayers(topology: Record<string, unknown>, dir: string): { layers: LayerJson[]; batchInputShape: unknown } {
  const model = (topology.model_config ?? topology) as { class_name?: string; config?: unknown };
  if (model.class_name !== 'Sequential') {
    throw new ExportError(`${dir}/model.json: only Sequential models are supported (found ${String(model.class_name)})`);
  }
  const config = model.config as { layers?: unknown } | unknown[] | undefined;
  const raw = Array.isArray(config) ? config : config?.layers;
  if (!Array.isArray(raw) || raw.length === 0) throw new ExportError(`${dir}/model.json: the Sequential model has no layers`);
  const all = raw as LayerJson[];
  let batchInputShape: unknown = all[0]?.config?.batch_input_shape;
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
    throw new ExportError(
      `the model's input shape [${modelShape.join(', ')}] differs from preprocessing.json's [${fromPreprocessing.join(', ')}]`,
    );
  }
  return fromPreprocessing;
}

async function readWeights(dir: string, groups: WeightGroup[]): Promise<WeightTable> {
  const table: WeightTable = new Map();
  for (const group of groups) {
    const buffers = await Promise.all(group.paths.map((p) => readFile(weightPath(dir, p))));
    const data = Buffer.concat(buffers);
    let offset = 0;
    for (const spec of group.weights) {
      if ((spec.dtype ?? 'float32') !== 'float32' || spec.quantization) {
        throw new ExportError(`weight ${spec.name}: only unquantized float32 weights are supported`);
      }
      const count = spec.shape.reduce((a, b) => a * b, 1);
      const end = offset + count * 4;
      if (end > data.length)
        throw new ExportError(`weights file too short: ${spec.name} needs bytes ${offset}..${end}, have ${data.length}`);
      const values = new Float64Array(count);
      for (let i = 0; i < count; i++) values[i] = data.readFloatLE(offset + i * 4);
      if (table.has(spec.name)) throw new ExportError(`duplicate weight name ${spec.name} in the manifest`);
      table.set(spec.name, { shape: spec.shape, values });
      offset = end;
    }
    if (offset !== data.length) throw new ExportError(`weights file has ${data.length - offset} unexpected trailing bytes`);
  }
  return table;
}

function weightPath(dir: string, relative: string): string {
  const full = path.resolve(dir, relative);
  if (path.dirname(full) !== path.resolve(dir)) throw new ExportError(`weight path ${relative} points outside the checkpoint`);
  return full;
}

function takeWeight(weights: WeightTable, layer: string, weight: string, shape: number[] | null): Float64Array {
  const entry = weights.get(`${layer}/${weight}`);
  if (!entry) throw new ExportError(`layer ${layer}: weight ${layer}/${weight} is missing from the manifest`);
  if (shape && (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i]))) {
    throw new ExportError(`layer ${layer}: ${weight} has shape [${entry.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return entry.values;
}

function weightShape(weights: WeightTable, layer: string, weight: string): number[] {
  const entry = weights.get(`${layer}/${weight}`);
  if (!entry) throw new ExportError(`layer ${layer}: weight ${layer}/${weight} is missing from the manifest`);
  return entry.shape;
}

function parseLayer(layer: LayerJson, weights: WeightTable): CheckpointLayer {
  const c = layer.config ?? {};
  const name = String(c.name ?? '');
  if (!name) throw new ExportError(`a ${layer.class_name} layer has no name`);
  const fail = (why: string): never => {
    throw new ExportError(`layer ${name} (${layer.class_name}): ${why}`);
  };
  if (c.data_format === 'channels_first') fail('channels_first is not supported (tfjs default is channels_last)');

  switch (layer.class_name) {
    case 'Dense': {
      const units = positiveInt(c.units, 'units', fail);
      const kernelShape = weightShape(weights, name, 'kernel');
      if (kernelShape.length !== 2 || kernelShape[1] !== units)
        fail(`kernel shape [${kernelShape.join(', ')}] does not match ${units} units`);
      const kernel = takeWeight(weights, name, 'kernel', null);
      const bias = c.use_bias === false ? null : takeWeight(weights, name, 'bias', [units]);
      return { kind: 'dense', name, units, activation: activation(c.activation, fail), kernel, kernelShape, bias };
    }
    case 'Conv2D': {
      const filters = positiveInt(c.filters, 'filters', fail);
      const kernelSize = pair(c.kernel_size, 'kernel_size', fail);
      const kernelShape = weightShape(weights, name, 'kernel');
      if (kernelShape.length !== 4 || kernelShape[0] !== kernelSize[0] || kernelShape[1] !== kernelSize[1] || kernelShape[3] !== filters) {
        fail(`kernel shape [${kernelShape.join(', ')}] does not match kernel_size/filters`);
      }
      const kernel = takeWeight(weights, name, 'kernel', null);
      const bias = c.use_bias === false ? null : takeWeight(weights, name, 'bias', [filters]);
      return {
        kind: 'conv2d',
        name,
        filters,
        kernelSize,
        strides: pair(c.strides ?? 1, 'strides', fail),
        dilations: pair(c.dilation_rate ?? 1, 'dilation_rate', fail),
        padding: padding(c.padding, fail),
        activation: activation(c.activation, fail),
        kernel,
        kernelShape,
        bias,
      };
    }
    case 'BatchNormalization': {
      const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis ?? -1);
      if (axis !== -1 && !(Number.isInteger(axis) && (axis as number) > 0)) fail(`axis ${JSON.stringify(c.axis)} is not supported`);
      const epsilon = Number(c.epsilon ?? 1e-3);
      if (!(epsilon >= 0)) fail(`invalid epsilon ${String(c.epsilon)}`);
      const movingMean = takeWeight(weights, name, 'moving_mean', null);
      const n = movingMean.length;
      const movingVariance = takeWeight(weights, name, 'moving_variance', [n]);
      const gamma = c.scale === false ? new Float64Array(n).fill(1) : takeWeight(weights, name, 'gamma', [n]);
      const beta = c.center === false ? new Float64Array(n) : takeWeight(weights, name, 'beta', [n]);
      if (movingVariance.some((v) => v < 0)) fail('moving_variance has negative entries');
      return { kind: 'batchNormalization', name, epsilon, axis: axis as number, gamma, beta, movingMean, movingVariance };
    }
    case 'MaxPooling2D':
    case 'MaxPool2D':
    case 'AveragePooling2D':
    case 'AvgPool2D': {
      const poolSize = pair(c.pool_size ?? 2, 'pool_size', fail);
      return {
        kind: 'pool',
        name,
        type: layer.class_name.startsWith('Max') ? 'max' : 'avg',
        poolSize,
        strides: c.strides == null ? poolSize : pair(c.strides, 'strides', fail),
        padding: padding(c.padding ?? 'valid', fail),
      };
    }
    case 'Flatten':
      return { kind: 'flatten', name };
    case 'Activation':
      return { kind: 'activation', name, activation: activation(c.activation, fail) };
    case 'Dropout':
      return { kind: 'dropout', name };
    default:
      return fail(
        'unsupported layer type (supported: Dense, Conv2D, BatchNormalization, MaxPooling2D, AveragePooling2D, Flatten, Activation, Dropout)',
      );
  }
}

function positiveInt(x: unknown, what: string, fail: (why: string) => never): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x <= 0) fail(`${what} must be a positive integer`);
  return x as number;
}

function pair(x: unknown, what: string, fail: (why: string) => never): [number, number] {
  const values = typeof x === 'number' ? [x, x] : x;
  if (!Array.isArray(values) || values.length !== 2 || !values.every((v) => Number.isInteger(v) && v > 0)) {
    fail(`${what} must be a positive integer or a pair of them`);
  }
  return [(values as number[])[0], (values as number[])[1]];
}

function padding(x: unknown, fail: (why: string) => never): Padding {
  if (x !== 'same' && x !== 'valid') fail(`padding ${JSON.stringify(x)} is not supported (same or valid)`);
  return x as Padding;
}

function activation(x: unknown, fail: (why: string) => never): Activation {
  const name = x == null ? 'linear' : String(x);
  const known = ACTIVATIONS[name];
  if (!known) fail(`activation ${name} is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return known;
}
