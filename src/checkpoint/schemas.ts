// The JSON files of a checkpoint folder, as zod schemas: what the writer writes and the reader accepts.
import { z } from 'zod';
import { trainConfigSchema } from '../lib/train-config-schema.ts';

/** Finite numbers only: JSON can spell 1e999 (Infinity), and zod 4's z.number() refuses it. */
const numberArray = (message: string) => z.array(z.number({ error: message }), { error: message });

/** preprocessing.json: what the trainer did to the raw features, read by the exporter without tfjs. */
export const preprocessingSchema = z
  .object({
    task: z.enum(['classification', 'regression'], { error: 'task must be "classification" or "regression"' }),
    featureNames: z.array(z.string(), { error: 'featureNames must be an array of strings' }),
    /** Shape of one sample without the batch dimension: [F] or [H, W, C]. */
    inputShape: numberArray('inputShape must be a non-empty number array').min(1, 'inputShape must be a non-empty number array'),
    /** Per feature (or per channel for images), from the training split only. */
    mean: numberArray('mean must be a number array'),
    /** Population std; a constant feature is stored as 1. */
    std: z.array(z.number().positive('every std must be finite and > 0'), { error: 'std must be a number array' }),
    /** In output order; empty (or absent) for regression. */
    classLabels: z.array(z.string(), { error: 'classLabels must be an array of strings' }).default([]),
    targetName: z.string().optional(),
    /** Regression on ±1 targets (an Adaline): the class is the sign of the output, negative → `negative`. */
    signClasses: z.object({ negative: z.string(), positive: z.string() }).optional(),
  })
  .check((ctx) => {
    // Cross-field checks, only on an otherwise well-formed file (a too-short inputShape does not abort the parse).
    if (ctx.issues.length > 0) return;
    const p = ctx.value;
    if (p.task === 'classification' && p.classLabels.length === 0) {
      ctx.issues.push({
        code: 'custom',
        input: p.classLabels,
        path: ['classLabels'],
        message: 'classLabels must be a non-empty array for classification',
      });
    }
    const channels = p.inputShape[p.inputShape.length - 1];
    if (p.mean.length !== channels || p.std.length !== channels) {
      ctx.issues.push({
        code: 'custom',
        input: p,
        message: `mean/std have ${p.mean.length}/${p.std.length} entries, expected ${channels} (last axis of inputShape)`,
      });
    }
  });
export type Preprocessing = z.output<typeof preprocessingSchema>;

/** One entry of model.json's weightsManifest: tfjs's WeightsManifestEntry. */
export const weightSpecSchema = z.looseObject({
  name: z.string(),
  shape: z.array(z.number().int().nonnegative()),
  dtype: z.string().optional(),
  quantization: z.unknown().optional(),
});
export type WeightSpec = z.output<typeof weightSpecSchema>;

export const weightGroupSchema = z.looseObject({ paths: z.array(z.string()), weights: z.array(weightSpecSchema) });
export type WeightGroup = z.output<typeof weightGroupSchema>;

/** model.json: the TensorFlow.js layers format (topology + weights manifest, moving statistics included). */
export const modelJsonSchema = z.looseObject({
  format: z.string().optional(),
  generatedBy: z.string().nullable().optional(),
  convertedBy: z.string().nullable().optional(),
  modelTopology: z.record(z.string(), z.unknown(), { error: 'has no modelTopology' }),
  weightsManifest: z.array(weightGroupSchema, { error: 'has no weightsManifest' }),
});
export type ModelJson = z.output<typeof modelJsonSchema>;

/** One layer of the topology; its config is read per layer class (see layers.ts). */
export const layerJsonSchema = z.looseObject({
  class_name: z.string(),
  config: z.record(z.string(), z.unknown()).default({}),
});
export type LayerJson = z.output<typeof layerJsonSchema>;

/** JSON writes a diverged run's NaN and Infinity losses as null: read back as NaN (left out of the charts). */
const lossValue = z
  .number()
  .nullable()
  .transform((v) => v ?? Number.NaN);

/** One epoch of metrics.json (the trainer's EpochMetrics; only what the report draws is checked). */
export const storedEpochSchema = z.looseObject({
  epoch: z.number(),
  loss: lossValue,
  dataLoss: lossValue,
  regularizationLoss: lossValue,
  validation: z.record(z.string(), lossValue).default({}),
});

export const bnGuardSchema = z.looseObject({
  stale: z.boolean(),
  residual: z.number().nullable().optional(),
  steps: z.number().nullable().optional(),
  message: z.string().optional(),
  /** Per BN layer: moving statistics against the data reaching it (see src/train/bn-check.ts). */
  layers: z.array(z.object({ name: z.string(), meanGap: z.number(), varianceRatio: z.number() })).optional(),
});
export type BnGuard = z.output<typeof bnGuardSchema>;

/**
 * metrics.json (a checkpoint's, or a diverged run's). runId, bnGuard and diverged are extras that the
 * exporter and the report can do without: a malformed one reads as absent rather than failing the read.
 */
export const metricsSchema = z.looseObject({
  runId: z.string().optional().catch(undefined),
  bnGuard: bnGuardSchema.optional().catch(undefined),
  diverged: z.boolean().optional().catch(undefined),
  epochs: z.array(storedEpochSchema).optional(),
});
export type Metrics = z.output<typeof metricsSchema>;

/** config.json: the resolved training config, as validated before training. */
export const configSchema = trainConfigSchema;

export const CHECKPOINT_FORMAT = 'bnserve-checkpoint';
export const CHECKPOINT_FORMAT_VERSION = 1;

/** bnserve-checkpoint.json: written with the other files, in the same atomic rename. */
export const markerSchema = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  formatVersion: z.literal(CHECKPOINT_FORMAT_VERSION),
  /** The run whose metrics.json this is; null for a checkpoint saved outside a registered run. */
  runId: z.string().nullable(),
});
export type Marker = z.output<typeof markerSchema>;
