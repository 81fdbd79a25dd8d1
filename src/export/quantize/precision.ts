// Reduced-precision artifacts and their accuracy gate. The fp32 graph (folded, past the parity gate) is
// the reference: the reduced one is run on the same rows, and registration is refused when its top-1
// agreement with fp32 falls below the threshold. What was measured goes into the artifact's metadata.
import { ExportError } from '../errors.ts';
import { decodeModel, encodeModel } from '../onnx/helpers.ts';
import type { OnnxTypes } from '../onnx/proto.ts';
import { convertFp16 } from './fp16.ts';
import { quantizeInt8 } from './int8.ts';

export const PRECISIONS = ['fp32', 'int8', 'fp16'] as const;
export type Precision = (typeof PRECISIONS)[number];
export const DEFAULT_MIN_AGREEMENT = 0.99;
/** Rows the gate measures on when no real rows are given (random rows around the data). */
export const ACCURACY_ROWS = 256;
/** A single-column output (regression) agrees on a row when within this fraction of max(1, |fp32|). */
export const REGRESSION_AGREEMENT_TOLERANCE = 0.01;

export interface Accuracy {
  /** Share of rows on which the reduced model agrees with fp32 (top-1 class, or within 1% for one column). */
  agreement: number;
  maxAbsDiff: number;
  rows: number;
}

/** One output of both models, row-major [rows, columns]. */
export function measureAccuracy(reference: ArrayLike<number>, reduced: ArrayLike<number>, rows: number): Accuracy {
  if (rows <= 0 || reference.length !== reduced.length || reference.length % rows !== 0) {
    throw new ExportError(`accuracy: outputs of ${reference.length} and ${reduced.length} values for ${rows} rows`);
  }
  const columns = reference.length / rows;
  let agreeing = 0;
  let maxAbsDiff = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      const d = Math.abs(reduced[r * columns + c] - reference[r * columns + c]);
      maxAbsDiff = Math.max(maxAbsDiff, Number.isNaN(d) ? Infinity : d);
    }
    if (columns === 1) {
      const ref = reference[r];
      if (Math.abs(reduced[r] - ref) <= REGRESSION_AGREEMENT_TOLERANCE * Math.max(1, Math.abs(ref))) agreeing++;
    } else if (argmax(reference, r * columns, columns) === argmax(reduced, r * columns, columns)) {
      agreeing++;
    }
  }
  return { agreement: agreeing / rows, maxAbsDiff, rows };
}

function argmax(values: ArrayLike<number>, start: number, count: number): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < count; i++) {
    const v = values[start + i];
    if (v > bestValue || best < 0) {
      best = i;
      bestValue = Number.isNaN(v) ? -Infinity : v;
    }
  }
  return best;
}

/** Refuses a reduced model that agrees with fp32 on fewer rows than `minAgreement` (ExportError, exit 3). */
export function gateAccuracy(precision: Precision, accuracy: Accuracy, minAgreement: number): void {
  if (!(accuracy.agreement >= minAgreement)) {
    throw new ExportError(
      `accuracy check failed: the ${precision} model agrees with fp32 on ${(accuracy.agreement * 100).toFixed(2)}% of ` +
        `${accuracy.rows} rows (max |${precision} − fp32| = ${accuracy.maxAbsDiff}); the minimum is ` +
        `${(minAgreement * 100).toFixed(2)}% (--min-agreement ${minAgreement}). Keep fp32 for this model, or lower --min-agreement`,
    );
  }
}

export function checkMinAgreement(value: number): void {
  if (!(value >= 0 && value <= 1)) throw new ExportError(`--min-agreement must be between 0 and 1, got ${value}`);
}

/** Runs a model's bytes on the gate's rows: its first output, row-major, and the row count. */
export type RunRows = (onnx: Uint8Array) => Promise<{ data: ArrayLike<number>; rows: number }>;

export interface PrecisionResult {
  onnx: Uint8Array;
  precision: Precision;
  /** null for fp32 (nothing to compare). */
  accuracy: Accuracy | null;
  /** Gemm/MatMul nodes rewritten to int8 (empty for fp32 and fp16). */
  quantized: string[];
}

/**
 * The artifact at `precision` from the finished fp32 model (metadata included): fp32 as it is (with
 * `precision` in its metadata); int8 quantized, measured against fp32 with `run`, gated, and with
 * `precision`, `agreement` and `max_abs_diff_vs_fp32` in its metadata.
 */
export async function applyPrecision(
  model: OnnxTypes.IModelProto,
  precision: Precision,
  options: { minAgreement?: number; run: RunRows },
): Promise<PrecisionResult> {
  const minAgreement = options.minAgreement ?? DEFAULT_MIN_AGREEMENT;
  checkMinAgreement(minAgreement);
  const withProps = (m: OnnxTypes.IModelProto, props: Record<string, string>) => {
    m.metadataProps = [
      ...(m.metadataProps ?? []).filter((p) => !(p.key && p.key in props)),
      ...Object.entries(props).map(([key, value]) => ({ key, value })),
    ];
    return encodeModel(m);
  };
  if (precision === 'fp32') return { onnx: withProps(model, { precision }), precision, accuracy: null, quantized: [] };
  if (!PRECISIONS.includes(precision)) throw new ExportError(`precision ${precision} is not supported (use ${PRECISIONS.join(', ')})`);

  const fp32 = encodeModel(model);
  const reduced = decodeModel(fp32);
  let quantized: string[] = [];
  if (precision === 'fp16') convertFp16(reduced);
  else {
    quantized = quantizeInt8(reduced).quantized;
    if (quantized.length === 0) {
      throw new ExportError('int8: the model has no Gemm or MatMul with a constant 2-D float weight to quantize; keep fp32');
    }
  }
  const reference = await options.run(fp32);
  let candidate: Awaited<ReturnType<RunRows>>;
  try {
    candidate = await options.run(encodeModel(reduced));
  } catch (error) {
    throw new ExportError(`the ${precision} model does not run in onnxruntime on the CPU: ${(error as Error).message}; keep fp32`);
  }
  const accuracy = measureAccuracy(reference.data, candidate.data, reference.rows);
  gateAccuracy(precision, accuracy, minAgreement);
  const onnx = withProps(reduced, {
    precision,
    agreement: String(accuracy.agreement),
    max_abs_diff_vs_fp32: String(accuracy.maxAbsDiff),
    accuracy_rows: String(accuracy.rows),
  });
  return { onnx, precision, accuracy, quantized };
}
