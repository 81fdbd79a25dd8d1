// TensorFlow Serving's REST API shapes (https://www.tensorflow.org/tfx/serving/api_rest): request
// schemas for :predict, model status and metadata (signature_def), and columnar outputs.
import { z } from 'zod';
import type { ServeLimits } from '../config.ts';
import { InvalidInputError } from '../dataplane/errors.ts';
import type { LoadedVersion, TensorInfo } from '../dataplane/loaded-version.ts';
import type { LoadFailure, ModelStatus } from '../dataplane/model-manager.ts';

/** The only signature a bnserve model has; TF Serving's default name for it. */
export const SERVING_DEFAULT = 'serving_default';

export function predictBody(limits: ServeLimits) {
  // Rows are checked value by value when decoded (rowsToTensor); zod only checks that each is an array or an object.
  const row = z
    .custom<unknown[] | Record<string, unknown>>((v) => v !== null && typeof v === 'object', {
      error: 'each instance must be an array of numbers or an object keyed by feature name',
    })
    .meta({
      anyOf: [
        { type: 'array', items: {} },
        { type: 'object', additionalProperties: {} },
      ],
    });
  const rows = (what: string) =>
    z
      .array(row, {
        error: (issue) => (issue.input === undefined ? `${what} is required` : `${what} must be an array of rows`),
      })
      .min(1, `${what} is empty: send at least one row`)
      .max(limits.maxRows, `too many rows: at most ${limits.maxRows} ${what} per request`);
  return z
    .object({
      signature_name: z
        .string()
        .refine((s) => s === SERVING_DEFAULT, `signature_name: this model has one signature, "${SERVING_DEFAULT}"`)
        .optional(),
      instances: rows('instances').optional(),
      inputs: z
        .union([z.array(z.unknown()), z.record(z.string(), z.array(z.unknown()))], {
          error: 'inputs must be a list of rows, or an object mapping the input name to a list of rows',
        })
        .optional()
        .meta({ description: 'Columnar form: the input tensor (a list of rows), or {"<input name>": rows}; answered with "outputs".' }),
    })
    .superRefine((b, ctx) => {
      if (b.instances !== undefined && b.inputs !== undefined) {
        ctx.addIssue({ code: 'custom', message: 'send either "instances" (rows) or "inputs" (columnar), not both' });
      } else if (b.instances === undefined && b.inputs === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['instances'],
          message: 'instances is required: {"instances": [[...], ...]} (or the columnar form {"inputs": [[...], ...]})',
        });
      }
    })
    .meta({
      description:
        'TF-Serving :predict. Rows ("instances": arrays of raw feature values, or objects keyed by feature name) are answered with "predictions"; the columnar "inputs" form with "outputs".',
    });
}

export const predictResponse = z
  .union([
    z.object({
      predictions: z.array(
        z.union([
          z.object({ label: z.string(), probabilities: z.record(z.string(), z.number()) }),
          z.object({ prediction: z.union([z.number(), z.array(z.number())]) }),
        ]),
      ),
      model_version: z.number(),
    }),
    z.object({
      outputs: z.union([z.array(z.unknown()), z.record(z.string(), z.array(z.unknown()))]),
      model_version: z.number(),
    }),
  ])
  .meta({ id: 'PredictResponse' });

/** The rows of a columnar request: the list itself, or the list under the model's input name. */
export function columnarRows(inputs: unknown[] | Record<string, unknown[]>, v: LoadedVersion, maxRows: number): unknown[] {
  let rows = inputs;
  if (!Array.isArray(rows)) {
    const names = Object.keys(rows);
    const expected = v.inputs.map((t) => t.name);
    if (names.length !== 1 || names[0] !== expected[0] || expected.length !== 1) {
      throw new InvalidInputError(`inputs: expected {"${expected.join('", "')}": [...]} (model inputs: ${expected.join(', ')})`);
    }
    rows = rows[names[0]];
  }
  if (rows.length === 0) throw new InvalidInputError('inputs is empty: send at least one row');
  if (rows.length > maxRows) throw new InvalidInputError(`too many rows: at most ${maxRows} rows per request`);
  return rows;
}

/** Flat row-major values as nested lists of the given shape. */
export function nest(data: ArrayLike<number | bigint>, dims: readonly number[]): unknown[] {
  const build = (offset: number, depth: number): unknown[] => {
    const size = dims.slice(depth + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: dims[depth] }, (_, i) =>
      depth + 1 === dims.length ? Number(data[offset + i]) : build(offset + i * size, depth + 1),
    );
  };
  return dims.length === 0 ? [Number(data[0])] : build(0, 0);
}

export const modelVersionStatus = z
  .object({
    model_version_status: z.array(
      z.object({
        version: z.string(),
        state: z.enum(['UNKNOWN', 'START', 'LOADING', 'AVAILABLE', 'UNLOADING', 'END']),
        status: z.object({ error_code: z.string(), error_message: z.string() }),
      }),
    ),
  })
  .meta({ id: 'ModelVersionStatus' });

type VersionStatus = z.infer<typeof modelVersionStatus>['model_version_status'][number];

const available = (version: number): VersionStatus => ({
  version: String(version),
  state: 'AVAILABLE',
  status: { error_code: 'OK', error_message: '' },
});

/** A version whose last load failed has ended its journey (TF Serving's END) with the short public reason. */
const failed = (f: LoadFailure): VersionStatus => ({
  version: String(f.version),
  state: 'END',
  status: { error_code: f.permanent ? 'FAILED_PRECONDITION' : 'UNAVAILABLE', error_message: f.reason },
});

/** Every loaded version, and every version whose last load failed; or just `version`'s entry (null when neither). */
export function versionStatuses(status: ModelStatus, version?: number): VersionStatus[] {
  const entries = new Map<number, VersionStatus>();
  for (const f of status.failures) entries.set(f.version, failed(f));
  for (const v of status.loaded) entries.set(v.version, available(v.version));
  const sorted = [...entries.entries()].sort((a, b) => b[0] - a[0]).map(([, e]) => e);
  return version === undefined ? sorted : sorted.filter((e) => e.version === String(version));
}

const DT: Record<string, string> = {
  float32: 'DT_FLOAT',
  float64: 'DT_DOUBLE',
  float16: 'DT_HALF',
  int8: 'DT_INT8',
  int16: 'DT_INT16',
  int32: 'DT_INT32',
  int64: 'DT_INT64',
  uint8: 'DT_UINT8',
  uint16: 'DT_UINT16',
  uint32: 'DT_UINT32',
  uint64: 'DT_UINT64',
  bool: 'DT_BOOL',
  string: 'DT_STRING',
};

const tensorInfoSchema = z.object({
  dtype: z.string(),
  tensor_shape: z.object({ dim: z.array(z.object({ size: z.string(), name: z.string() })), unknown_rank: z.boolean() }),
  name: z.string(),
});

export const modelMetadataResponse = z
  .object({
    model_spec: z.object({ name: z.string(), signature_name: z.string(), version: z.string() }),
    metadata: z.object({
      signature_def: z.object({
        signature_def: z.record(
          z.string(),
          z.object({
            inputs: z.record(z.string(), tensorInfoSchema),
            outputs: z.record(z.string(), tensorInfoSchema),
            method_name: z.string(),
          }),
        ),
      }),
    }),
  })
  .meta({ id: 'TfServingModelMetadata' });

const tensorInfo = (t: TensorInfo) => ({
  dtype: DT[t.type] ?? `DT_${t.type.toUpperCase()}`,
  // TF Serving writes int64 sizes as strings (protobuf JSON); -1 is the batch dimension.
  tensor_shape: { dim: t.shape.map((d) => ({ size: String(d), name: '' })), unknown_rank: false },
  name: t.name,
});

/** GetModelMetadata's answer: the version's one signature, serving_default. */
export function modelMetadata(v: LoadedVersion): z.infer<typeof modelMetadataResponse> {
  return {
    model_spec: { name: v.name, signature_name: '', version: String(v.version) },
    metadata: {
      signature_def: {
        signature_def: {
          [SERVING_DEFAULT]: {
            inputs: Object.fromEntries(v.inputs.map((t) => [t.name, tensorInfo(t)])),
            outputs: Object.fromEntries(v.outputs.map((t) => [t.name, tensorInfo(t)])),
            method_name: 'tensorflow/serving/predict',
          },
        },
      },
    },
  };
}
