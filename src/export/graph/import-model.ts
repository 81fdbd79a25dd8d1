// An ONNX model from elsewhere (PyTorch, Keras) made servable with our guarantees: no training-mode BN,
// moving statistics that were updated (and match a sample when one is given), every BN folded away,
// and the folded graph answering like the original within the parity tolerance.
import { createHash } from 'node:crypto';
import { BN_GUARD_DEFAULTS, type BnGuardLimits } from '../../lib/bn.ts';
import type { TensorSignature } from '../../registry/types.ts';
import { ExportError } from '../errors.ts';
import { decodeModel, encodeModel } from '../onnx/helpers.ts';
import type { OnnxTypes } from '../onnx/proto.ts';
import { type BnDrift, bnDrift } from './bn-drift.ts';
import { ImportError } from './errors.ts';
import {
  batchNormParams,
  type BnFold,
  foldGraphBatchNorms,
  isBatchNorm,
  nodeName,
  tensorsToMeasure,
  trainingModeBatchNorms,
} from './fold-graph.ts';
import { GraphIndex } from './graph-index.ts';
import { assertInline } from './tensor-values.ts';
import { exposeTensors, type Feeds, inputSpecs, randomFeeds, runGraph, type TensorData } from './run-graph.ts';
import { datatypeOf, graphSignature } from '../onnx/signature.ts';
import { firstRows, type WarmupSample, warmupProp } from '../onnx/warmup.ts';
import { type Accuracy, ACCURACY_ROWS, applyPrecision, type Precision } from '../quantize/precision.ts';

export const MIN_IMPORT_OPSET = 13;
export const MAX_IMPORT_OPSET = 21;
/** Parity gate: max |folded − original| over an output, divided by max(1, max |original|) of that output. */
export const DEFAULT_IMPORT_TOLERANCE = 1e-4;
export const RANDOM_ROWS = 16;

export interface ImportOptions {
  onnx: Uint8Array;
  /** Real inputs by name; seeded N(0, 1) rows of the declared shapes when absent. */
  sample?: Feeds | null;
  tolerance?: number;
  seed?: number;
  /** The BN guard's drift limits (default: the trainer's, BN_GUARD_DEFAULTS). */
  driftLimits?: Pick<BnGuardLimits, 'maxMeanGap' | 'maxVarianceRatio'>;
  /** Weight precision of the registered graph (default fp32); int8 passes the accuracy gate against fp32. */
  precision?: Precision;
  /** Smallest top-1 agreement with fp32 a reduced precision may have (default 0.99). */
  minAgreement?: number;
}

export interface ImportResult {
  /** The folded graph, with the import's facts in its metadata. */
  onnx: Uint8Array;
  originalSha256: string;
  producer: string;
  opset: number;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  batchNorms: number;
  folds: BnFold[];
  parity: { maxAbsDiff: number; maxScaledDiff: number; rows: number; tolerance: number; sample: boolean };
  /** BN nodes whose statistics are still mean 0 / variance 1 in every channel. */
  untrained: string[];
  /** Stored statistics against the sample's batch statistics (only with a sample). */
  drift: BnDrift[] | null;
  bnGuardWarning: string | null;
  precision: Precision;
  /** The reduced-precision graph against the fp32 one on the first output (null for fp32). */
  accuracy: Accuracy | null;
}

export async function importOnnx(options: ImportOptions): Promise<ImportResult> {
  const tolerance = options.tolerance ?? DEFAULT_IMPORT_TOLERANCE;
  if (!(tolerance >= 0)) throw new ImportError(`the parity tolerance must be a number >= 0, got ${tolerance}`);
  const model = decode(options.onnx);
  const opset = checkOpset(model);
  const graph = model.graph!;
  for (const t of graph.initializer ?? []) assertInline(t);
  const refusedBns = trainingModeBatchNorms(graph);
  if (refusedBns.length > 0) {
    throw new ImportError(
      `the model was exported in training mode: BatchNormalization ${refusedBns.join(', ')} normalise with each batch's own ` +
        'statistics (training_mode=1), so answers would depend on the other rows of a batch. Export it again after ' +
        '`model.eval()` (PyTorch: torch.onnx.export(model.eval(), …) without training=TrainingMode.TRAINING; Keras: ' +
        'call the model with training=False)',
    );
  }

  const index = new GraphIndex(graph);
  const batchNorms = (graph.node ?? []).filter(isBatchNorm);
  const params = batchNorms.map((bn) => ({ bn, ...batchNormParams(index, bn) }));
  const feeds = options.sample ?? randomFeeds(inputSpecs(model), RANDOM_ROWS, options.seed ?? 1);
  const measured = tensorsToMeasure(graph).map((name) => ({ name, elemType: params[0]?.dataType ?? 1 }));
  const original = await runGraph(exposeTensors(options.onnx, measured), feeds);
  const outputNames = (graph.output ?? []).map((o) => o.name ?? '');
  const shapes = new Map(measured.map((t) => [t.name, original[t.name].dims]));

  const untrained = params.filter((p) => isInitialStatistics(p.movingMean, p.movingVariance)).map((p) => nodeName(p.bn));
  const drift = options.sample ? params.map((p) => bnDrift(nodeName(p.bn), p, original[p.bn.input?.[0] ?? ''])) : null;

  const folds = foldGraphBatchNorms(graph, shapes);
  const folded = encodeModel(model);
  const after = await runGraph(folded, feeds);
  const parity = compareOutputs(outputNames, original, after);
  if (!(parity.maxScaledDiff <= tolerance)) {
    throw new ExportError(
      `parity check failed: the folded graph differs from the original by up to ${parity.maxAbsDiff} ` +
        `(${parity.maxScaledDiff} relative to the output's scale) on ${parity.rows} rows; the tolerance is ${tolerance}`,
    );
  }

  const bnGuardWarning = guardWarning(untrained, drift, options.driftLimits ?? BN_GUARD_DEFAULTS);
  const originalSha256 = createHash('sha256').update(options.onnx).digest('hex');
  const producer = [model.producerName, model.producerVersion].filter(Boolean).join(' ') || 'unknown';
  const facts = {
    source: 'import',
    original_sha256: originalSha256,
    producer,
    batch_norms: batchNorms.length,
    folds,
    parity: { ...parity, tolerance, sample: !!options.sample },
    untrained,
    drift,
  };
  const stale = bnGuardWarning !== null;
  // Outputs declared without a shape: the rank measured on the parity rows, the batch axis dynamic.
  const signature = graphSignature(graph, (name) => original[name]?.dims.map((d, axis) => (axis === 0 ? -1 : d)));
  model.metadataProps = [
    ...(model.metadataProps ?? []).filter((p) => !p.key?.startsWith('bnserve')),
    { key: 'bnserve_import', value: JSON.stringify(facts) },
    { key: 'folded', value: String(folds.length > 0) },
    { key: 'parity_max_abs_diff', value: String(parity.maxAbsDiff) },
    ...(drift ? [{ key: 'bn_guard', value: JSON.stringify({ stale, residual: null, steps: null, layers: drift }) }] : []),
    ...(options.sample ? [warmupProp({ inputs: warmupInputs(options.sample, inputSpecs(model)) })] : []),
  ];
  // The accuracy gate's rows: the sample, else ACCURACY_ROWS seeded random rows (16 are too few to measure 99%).
  const gateFeeds = options.sample ?? randomFeeds(inputSpecs(model), ACCURACY_ROWS, (options.seed ?? 1) + 1);
  const reduced = await applyPrecision(model, options.precision ?? 'fp32', {
    minAgreement: options.minAgreement,
    run: async (bytes) => {
      const out = (await runGraph(bytes, gateFeeds))[outputNames[0]];
      return { data: Array.from(out.data, Number), rows: out.dims[0] ?? 1 };
    },
  });
  return {
    onnx: reduced.onnx,
    precision: reduced.precision,
    accuracy: reduced.accuracy,
    originalSha256,
    producer,
    opset,
    inputs: signature.inputs,
    outputs: signature.outputs,
    batchNorms: batchNorms.length,
    folds,
    parity: { ...parity, tolerance, sample: !!options.sample },
    untrained,
    drift,
    bnGuardWarning,
  };
}

/** The sample's first rows of every input, as the server's warm-up request. */
function warmupInputs(sample: Feeds, specs: ReturnType<typeof inputSpecs>): WarmupSample['inputs'] {
  return specs.map((spec) => ({
    name: spec.name,
    datatype: datatypeOf(spec.elemType) as WarmupSample['inputs'][number]['datatype'],
    ...firstRows(sample[spec.name].data, sample[spec.name].dims),
  }));
}

function decode(bytes: Uint8Array): OnnxTypes.ModelProto {
  let model: OnnxTypes.ModelProto;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new ImportError(`the file is not an ONNX model (${(error as Error).message})`);
  }
  if (!model.graph || (model.graph.node ?? []).length === 0) throw new ImportError('the file is not an ONNX model: it has no graph');
  return model;
}

function checkOpset(model: OnnxTypes.ModelProto): number {
  const entry = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const opset = Number(entry?.version ?? 0);
  if (opset < MIN_IMPORT_OPSET || opset > MAX_IMPORT_OPSET) {
    throw new ImportError(
      `the model uses ONNX opset ${opset || 'unknown'}; bnserve imports opsets ${MIN_IMPORT_OPSET}–${MAX_IMPORT_OPSET} ` +
        '(PyTorch: torch.onnx.export(…, opset_version=17); tf2onnx: --opset 17)',
    );
  }
  return opset;
}

/** Exactly PyTorch's and Keras's initial values: nobody trained these statistics. */
function isInitialStatistics(mean: Float64Array, variance: Float64Array): boolean {
  return mean.every((m) => m === 0) && variance.every((v) => v === 1);
}

function guardWarning(untrained: string[], drift: BnDrift[] | null, limits: NonNullable<ImportOptions['driftLimits']>): string | null {
  const problems: string[] = [];
  if (untrained.length > 0) {
    problems.push(
      `moving statistics were never updated: BatchNormalization ${untrained.join(', ')} still hold mean 0 and variance 1 in every ` +
        'channel (train in model.train() mode, or load the trained weights, before model.eval() and the export)',
    );
  }
  for (const d of drift ?? []) {
    if (d.meanGap > limits.maxMeanGap || d.varianceRatio > limits.maxVarianceRatio) {
      problems.push(
        `${d.name}: moving statistics do not match the sample it sees (mean off by ${d.meanGap.toFixed(2)} std, ` +
          `variance off by a factor of ${d.varianceRatio.toFixed(2)})`,
      );
    }
  }
  return problems.length > 0 ? `BatchNormalization statistics look stale: ${problems.join('; ')}` : null;
}

function compareOutputs(names: string[], before: Record<string, TensorData>, after: Record<string, TensorData>) {
  let maxAbsDiff = 0;
  let maxScaledDiff = 0;
  let rows = 0;
  for (const name of names) {
    const a = before[name];
    const b = after[name];
    if (!a || !b || a.data.length !== b.data.length) throw new ExportError(`parity: output ${name} changed shape when folding`);
    rows = Math.max(rows, a.dims[0] ?? 1);
    let scale = 1;
    let diff = 0;
    for (let i = 0; i < a.data.length; i++) {
      const x = Number(a.data[i]);
      if (!Number.isFinite(x)) {
        throw new ImportError(
          `the model outputs a non-finite value (${x}) in ${name} on these inputs; it is broken or the inputs are far off`,
        );
      }
      scale = Math.max(scale, Math.abs(x));
      const d = Math.abs(Number(b.data[i]) - x);
      diff = Math.max(diff, Number.isNaN(d) ? Infinity : d);
    }
    maxAbsDiff = Math.max(maxAbsDiff, diff);
    maxScaledDiff = Math.max(maxScaledDiff, diff / scale);
  }
  return { maxAbsDiff, maxScaledDiff, rows };
}
