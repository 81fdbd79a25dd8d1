// exportCheckpoint: checkpoint → (folded) ONNX bytes that passed the parity gate.
import { BNSERVE_VERSION } from '../lib/version.ts';
import type { TensorSignature } from '../registry/types.ts';
import { readCheckpoint } from '../checkpoint/index.ts';
import { ExportError } from './errors.ts';
import { foldOps } from './fold-ops.ts';
import { buildOnnxModel, INPUT_NAME } from './onnx/from-ops.ts';
import { encodeModel } from './onnx/helpers.ts';
import { firstRows, warmupProp } from './onnx/warmup.ts';
import { opsFromCheckpoint } from './ops.ts';
import { flattenRows, measureParity, randomRows } from './parity.ts';
import { runOnnx } from './ort-runner.ts';
import { type Accuracy, ACCURACY_ROWS, applyPrecision, type Precision } from './quantize/precision.ts';

export { ExportError } from './errors.ts';

export const DEFAULT_OPSET = 17;
export const MIN_OPSET = 13;
export const MAX_OPSET = 21;
export const DEFAULT_PARITY_TOLERANCE = 1e-5;

export interface ExportOptions {
  checkpointDir: string;
  /** Fold BN and standardisation into the layers (default true). */
  fold?: boolean;
  opset?: number;
  /** Max |onnx − tfjs| allowed (classification); regression allows tol·max(1, |tfjs|). */
  parityTolerance?: number;
  /** Extra rows of raw features (e.g. the test split) for the parity check, besides random ones. */
  parityRows?: number[][] | Float32Array;
  runId?: string;
  /** Weight precision of the artifact (default fp32); int8 passes the accuracy gate against fp32. */
  precision?: Precision;
  /** Smallest top-1 agreement with fp32 a reduced precision may have (default 0.99). */
  minAgreement?: number;
  /** Rows of raw features for the accuracy gate (the validation split); default: parityRows, else random rows. */
  accuracyRows?: Float32Array;
}

export interface ExportResult {
  onnx: Uint8Array;
  parityMaxAbsDiff: number;
  folded: boolean;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  opset: number;
  classLabels: string[];
  featureNames: string[];
  task: 'classification' | 'regression';
  /** The BN guard's finding when it flagged the checkpoint's moving statistics, else null. */
  bnGuardWarning: string | null;
  warnings: string[];
  precision: Precision;
  /** The reduced-precision model against fp32 (null for fp32). */
  accuracy: Accuracy | null;
}

/** onnx's IR version that goes with an opset (1.13: opset 18 / IR 8, 1.14–1.15: 19–20 / IR 9, 1.16: 21 / IR 10). */
/** The server's warm-up rows: the first rows given for parity (the test split), else one row at the training mean. */
function warmupRows(rows: ExportOptions['parityRows'], inputShape: number[], p: { mean: number[] }) {
  const perRow = inputShape.reduce((a, b) => a * b, 1);
  const flat = flattenRows(rows, perRow);
  if (flat.length > 0) return firstRows(flat, [flat.length / perRow, ...inputShape]);
  return { shape: [1, ...inputShape], data: Array.from({ length: perRow }, (_, i) => p.mean[i % p.mean.length]) };
}

export function irVersionFor(opset: number): number {
  return opset <= 18 ? 8 : opset <= 20 ? 9 : 10;
}

export async function exportCheckpoint(options: ExportOptions): Promise<ExportResult> {
  const fold = options.fold ?? true;
  const opset = options.opset ?? DEFAULT_OPSET;
  const tolerance = options.parityTolerance ?? DEFAULT_PARITY_TOLERANCE;
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ExportError(`opset ${opset} is not supported (use ${MIN_OPSET}..${MAX_OPSET}, default ${DEFAULT_OPSET})`);
  }
  if (!(tolerance >= 0)) throw new ExportError(`parity tolerance must be a number >= 0, got ${tolerance}`);

  const checkpoint = await readCheckpoint(options.checkpointDir);
  const runId = options.runId ?? checkpoint.runId;
  const { preprocessing, inputShape } = checkpoint;
  const layerOps = opsFromCheckpoint(checkpoint);
  const ops = fold ? foldOps(layerOps) : layerOps;
  // "Folded" says BN statistics were folded into weights: never true for a model without BN layers.
  const folded = fold && layerOps.some((op) => op.kind === 'batchNorm');
  const outputName = preprocessing.task === 'classification' ? 'probabilities' : 'prediction';
  const outputUnits = preprocessing.task === 'classification' ? preprocessing.classLabels.length : 1;

  const model = buildOnnxModel(ops, {
    inputShape,
    outputName,
    opset,
    irVersion: irVersionFor(opset),
    producerName: 'bnserve',
    producerVersion: BNSERVE_VERSION,
    metadata: {
      producer: `bnserve ${BNSERVE_VERSION}`,
      ...(runId ? { run_id: runId } : {}),
      task: preprocessing.task,
      class_labels: JSON.stringify(preprocessing.classLabels),
      feature_names: JSON.stringify(preprocessing.featureNames),
      folded: String(folded),
      // Kept beside the folded weights: the dashboard centres its default decision-region grid on them.
      standardization: JSON.stringify({ mean: preprocessing.mean, std: preprocessing.std }),
      ...(checkpoint.bnGuard
        ? {
            bn_guard: JSON.stringify({
              stale: checkpoint.bnGuard.stale,
              residual: checkpoint.bnGuard.residual,
              steps: checkpoint.bnGuard.steps,
              layers: checkpoint.bnGuard.layers,
            }),
          }
        : {}),
    },
  });

  const parity = await measureParity({
    onnx: encodeModel(model),
    checkpointDir: options.checkpointDir,
    preprocessing,
    inputShape,
    names: { input: INPUT_NAME, output: outputName },
    rows: options.parityRows,
  });
  const gated = preprocessing.task === 'classification' ? parity.maxAbsDiff : parity.maxScaledDiff;
  if (!(gated <= tolerance)) {
    throw new ExportError(
      `parity check failed: the ONNX model differs from the trained model by up to ${parity.maxAbsDiff} ` +
        `(${preprocessing.task === 'classification' ? 'absolute' : 'scaled by max(1, |value|)'}: ${gated}) ` +
        `on ${parity.rows} rows; the tolerance is ${tolerance}`,
    );
  }
  model.metadataProps!.push({ key: 'parity_max_abs_diff', value: String(parity.maxAbsDiff) });
  model.metadataProps!.push(
    warmupProp({ inputs: [{ name: INPUT_NAME, datatype: 'FP32', ...warmupRows(options.parityRows, inputShape, preprocessing) }] }),
  );

  // The accuracy gate's rows: the validation split, else the parity rows (train's test split), else random
  // rows around the training statistics (off the data's manifold, so more near-ties than real rows).
  const perRow = inputShape.reduce((a, b) => a * b, 1);
  const given = flattenRows(options.accuracyRows?.length ? options.accuracyRows : options.parityRows, perRow);
  const gateRows = given.length > 0 ? given : randomRows(ACCURACY_ROWS, perRow, preprocessing, 2);
  const rowCount = gateRows.length / perRow;
  const reduced = await applyPrecision(model, options.precision ?? 'fp32', {
    minAgreement: options.minAgreement,
    run: async (bytes) => ({
      data: await runOnnx(bytes, gateRows, [rowCount, ...inputShape], { input: INPUT_NAME, output: outputName }),
      rows: rowCount,
    }),
  });

  const bnGuardWarning = checkpoint.bnGuard?.stale
    ? `the BatchNormalization moving statistics may be stale (residual ${checkpoint.bnGuard.residual ?? 'unknown'})` +
      (checkpoint.bnGuard.message ? `: ${checkpoint.bnGuard.message}` : '')
    : null;
  const warnings: string[] = bnGuardWarning ? [bnGuardWarning] : [];
  for (const op of ops) {
    if (fold && op.kind === 'scaleShift') warnings.push(`${op.name} could not be folded into a neighbouring layer; it is a Mul + Add`);
  }

  return {
    onnx: reduced.onnx,
    precision: reduced.precision,
    accuracy: reduced.accuracy,
    parityMaxAbsDiff: parity.maxAbsDiff,
    folded,
    inputs: [{ name: INPUT_NAME, datatype: 'FP32', shape: [-1, ...inputShape] }],
    outputs: [{ name: outputName, datatype: 'FP32', shape: [-1, outputUnits] }],
    opset,
    classLabels: preprocessing.classLabels,
    featureNames: preprocessing.featureNames,
    task: preprocessing.task,
    bnGuardWarning,
    warnings,
  };
}
