// Dynamic batching and model instances (Triton's dynamic_batching / instance_group): the one
// definition of the knobs, their ranges and their defaults. The settings (BNSERVE_BATCH_* and the
// rest) take their bounds and defaults from here and parse the server-wide values into it, the admin API and
// BNSERVE_MODEL_BATCHING take per-model overrides of it, the server schedules by it, and the Triton
// config generator writes it out.
import { z } from 'zod';

/** Per-model scheduling: server-wide defaults from the environment, overridable per model. */
export const batchingOptionsSchema = z.object({
  /** Off: every request runs alone (still through the bounded queue). On: queued requests are merged. */
  enabled: z.boolean(),
  /** Upper bound on rows merged into one onnxruntime run. */
  maxBatchSize: z.number().int().min(1).max(1_000_000),
  /** How long the oldest queued request may wait for company; 0 = never wait (run at once when an instance is free). */
  maxQueueDelayMicroseconds: z.number().int().min(0).max(10_000_000),
  /** Batch sizes to dispatch at as soon as they are reached (within the delay). Empty: none. */
  preferredBatchSizes: z.array(z.number().int().min(1).max(1_000_000)).max(32),
  /** Requests waiting per model version; one more gets 503 with Retry-After. */
  maxQueueSize: z.number().int().min(1).max(1_000_000),
  /** A queued request not started within this gets 503; 0 = no limit. A request may ask for less (parameters.timeout). */
  queueTimeoutMicroseconds: z.number().int().min(0).max(3_600_000_000),
  /** Concurrent onnxruntime runs per model version: 1 runs on the main thread, N > 1 in N worker threads. */
  instanceCount: z.number().int().min(1).max(64),
});
export type BatchingOptions = z.infer<typeof batchingOptionsSchema>;

/** What the server batches with when nothing is set (the settings' defaults; checked against the schema). */
export const BATCHING_DEFAULTS: Readonly<BatchingOptions> = Object.freeze(
  batchingOptionsSchema.parse({
    enabled: true,
    maxBatchSize: 512,
    maxQueueDelayMicroseconds: 0,
    preferredBatchSizes: [],
    maxQueueSize: 1024,
    queueTimeoutMicroseconds: 0,
    instanceCount: 1,
  }),
);

/** Batching knobs that one model may override (what BNSERVE_MODEL_BATCHING and the admin API take). */
export const batchingOverrideSchema = batchingOptionsSchema.partial().strict();
export type BatchingOverride = z.infer<typeof batchingOverrideSchema>;

/** A value checked as a batching override: the override, or what is wrong with it ("path: message; …"). */
export function checkBatchingOverride(value: unknown): { override: BatchingOverride; problem: null } | { override: null; problem: string } {
  const parsed = batchingOverrideSchema.safeParse(value);
  if (parsed.success) return { override: parsed.data, problem: null };
  return { override: null, problem: parsed.error.issues.map((i) => `${i.path.join('.') || 'value'}: ${i.message}`).join('; ') };
}
