// Warm-up samples stored with a model (Triton's model_warmup, TF Serving's assets.extra): a few real
// input rows in the ONNX file's metadata, run by the server at load before the version counts as
// ready. One owner for the key and the shape: an Open Inference Protocol request body.
import { z } from 'zod';

export const WARMUP_KEY = 'bnserve_warmup';
/** Rows kept per input: enough to exercise the graph, small enough for any metadata. */
export const WARMUP_ROWS = 4;

const warmupSchema = z.object({
  inputs: z
    .array(
      z.object({
        name: z.string().min(1),
        shape: z.array(z.number().int().nonnegative()).min(1),
        datatype: z.enum(['FP32', 'FP64', 'INT32', 'INT64']),
        data: z.array(z.number()),
      }),
    )
    .min(1),
});

export type WarmupSample = z.infer<typeof warmupSchema>;

/** The metadata entry for a sample. */
export function warmupProp(sample: WarmupSample): { key: string; value: string } {
  return { key: WARMUP_KEY, value: JSON.stringify(warmupSchema.parse(sample)) };
}

/** The stored sample, or null when the metadata holds none; throws on one that is not well-formed. */
export function readWarmup(metadata: Record<string, string>): WarmupSample | null {
  if (!Object.hasOwn(metadata, WARMUP_KEY)) return null;
  const parsed = warmupSchema.safeParse(JSON.parse(metadata[WARMUP_KEY]));
  if (!parsed.success) throw new Error(`the model's ${WARMUP_KEY} metadata is not a warm-up sample: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

/** The first `rows` rows of a flat row-major tensor [n, ...rest]. */
export function firstRows(data: ArrayLike<number | bigint>, shape: readonly number[], rows = WARMUP_ROWS) {
  const n = Math.min(rows, shape[0] ?? 0);
  const perRow = shape.slice(1).reduce((a, b) => a * b, 1);
  return { shape: [n, ...shape.slice(1)], data: Array.from({ length: n * perRow }, (_, i) => Number(data[i])) };
}
