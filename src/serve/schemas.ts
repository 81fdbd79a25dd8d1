// zod schemas for every route: validation (fastify-type-provider-zod) and /docs come from these.
// Only module-level schemas carry a registry id: ids are global and factories run once per app.
import { z } from 'zod';
import { quoted } from '../lib/quote.ts';
import { assertAlias, assertModelName, PRODUCTION_ALIAS } from '../registry/validation.ts';
import { batchingOverrideSchema } from '../settings.ts';
import type { ServeLimits } from './config.ts';
import { INPUT_DATATYPES } from './tensor-data.ts';

export const errorBody = z.object({ error: z.string() }).meta({ id: 'Error' });

const parameters = z.record(z.string(), z.unknown()).optional();

/** A string schema that accepts exactly what the registry's own check accepts, with its message. */
function registryRule(check: (value: unknown) => void, description: string) {
  return z
    .string()
    .superRefine((value, ctx) => {
      try {
        check(value);
      } catch (err) {
        // The registry quotes the value whole; a name in a body or a gRPC field has no URL length limit.
        const message = (err as Error).message.replace(JSON.stringify(value), quoted(value));
        ctx.addIssue({ code: 'custom', message, input: value });
      }
    })
    .meta({ description });
}

// The registry's rules, not a copy: a name the registry could never hold is a 400, a valid unknown one a 404.
export const modelName = registryRule(
  assertModelName,
  'Letters, digits, ".", "_" and "-"; at most 64 characters; starts with a letter or digit.',
);

export const versionNumber = z
  .string()
  .regex(/^[1-9][0-9]{0,9}$/, 'version must be a positive integer')
  .transform(Number);

export const aliasName = registryRule(assertAlias, 'Starts with a letter, then letters, digits, ".", "_" or "-"; at most 64 characters.');

export const modelParams = z.object({ model: modelName });
export const versionParams = z.object({ model: modelName, version: versionNumber });
export const aliasParams = z.object({ model: modelName, alias: aliasName });

/**
 * A JSON array zod checks as an array only, without visiting its elements (z.array(z.unknown())
 * visits every one: 784 calls per row of a 784-wide model). For tensor contents, which the decoder
 * checks element by element anyway, against the datatype and the model's element type.
 */
export function tensorValues(error: string) {
  return z.custom<unknown[]>((v) => Array.isArray(v), { error }).meta({ type: 'array', items: {} });
}

export function inferBody(limits: ServeLimits) {
  const input = z.object({
    name: z.string().min(1).max(200),
    shape: z
      .array(z.number().int().nonnegative())
      .min(1, 'shape must have at least one dimension')
      .max(8)
      .refine((s) => s[0] >= 1, 'the first (batch) dimension must be at least 1')
      .refine((s) => s[0] <= limits.maxRows, `the batch dimension is limited to ${limits.maxRows} rows per request`),
    datatype: z.enum(INPUT_DATATYPES),
    parameters: parameters.meta({
      description: 'binary_data_size: byte count of this input in the binary part of the body (binary tensor extension).',
    }),
    // Checked element by element (with the datatype and the model's type) when decoded, not here.
    data: tensorValues('data must be an array of numbers (flat or nested to match shape)')
      .refine((d) => d.length > 0, 'data is empty')
      .optional()
      .meta({
        description: 'Row-major tensor contents, flat or nested to match shape; omitted when parameters.binary_data_size is given.',
      }),
  });
  return z
    .object({
      id: z.string().max(256).optional(),
      parameters: parameters.meta({
        description: 'binary_data_output: true asks for every output as binary data; timeout: queue timeout in microseconds.',
      }),
      inputs: z
        .array(input, {
          error: (issue) =>
            issue.input === undefined
              ? 'inputs is required: {"inputs": [{"name", "shape", "datatype", "data"}]}'
              : 'inputs must be an array',
        })
        .min(1, 'inputs is empty')
        .max(64),
      outputs: z
        .array(z.object({ name: z.string().min(1), parameters }))
        .max(64)
        .optional(),
    })
    .meta({ description: 'Open Inference Protocol v2 inference request.' });
}

export const inferResponse = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    outputs: z.array(
      z.object({
        name: z.string(),
        shape: z.array(z.number()),
        datatype: z.string(),
        data: z.array(z.number()).optional(),
        parameters: z.object({ binary_data_size: z.number() }).optional(),
      }),
    ),
  })
  .meta({ id: 'InferenceResponse' });

export const tensorMetadata = z.object({ name: z.string(), datatype: z.string(), shape: z.array(z.number()) });
/** Public: a short reason only ("artifact missing", "sha256 mismatch"); the detail is in the server log. */
const loadError = z.object({ version: z.number(), error: z.string(), at: z.string(), retrying: z.boolean() });
/** Admin answers (authenticated) add the full detail. */
const adminLoadError = loadError.extend({ detail: z.string() });

export const modelMetadata = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.string(),
    inputs: z.array(tensorMetadata),
    outputs: z.array(tensorMetadata),
    version: z.string(),
    execution_provider: z.string(),
    ready: z.boolean(),
    task: z.enum(['classification', 'regression']),
    labels: z.array(z.string()),
    feature_names: z.array(z.string()),
    aliases: z.record(z.string(), z.number()),
    load_errors: z.array(loadError),
    /** Why the model is not ready (a default or alias target failed to load); empty when it is. */
    reasons: z.array(z.string()),
  })
  .meta({ id: 'ModelMetadata' });

export const modelReady = z.object({
  name: z.string(),
  version: z.string().optional(),
  ready: z.boolean(),
  error: z.string().optional(),
  reasons: z.array(z.string()).optional(),
});

export const serverReady = z.object({ ready: z.boolean(), reasons: z.array(z.string()).optional() });

export const serverMetadata = z.object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) });

export const promoteBody = z.object({
  version: z.number().int().positive(),
  alias: aliasName.default(PRODUCTION_ALIAS),
  /** Move the alias even to a version the BN guard flagged (409 otherwise). */
  force: z.boolean().default(false),
});

export const modelStatus = z
  .object({
    name: z.string(),
    state: z.enum(['READY', 'UNAVAILABLE']),
    default_version: z.number().nullable(),
    aliases: z.record(z.string(), z.number()),
    registry_aliases: z.record(z.string(), z.number()),
    loaded_versions: z.array(z.object({ version: z.number(), execution_provider: z.string(), inflight: z.number() })),
    load_errors: z.array(adminLoadError),
    reasons: z.array(z.string()),
  })
  .meta({ id: 'ModelStatus' });

export const promoteResponse = z.object({
  name: z.string(),
  alias: z.string(),
  version: z.number(),
  previous_version: z.number().nullable(),
  execution_provider: z.string(),
});

export const repositoryIndex = z.array(z.object({ name: z.string(), version: z.string(), state: z.string(), reason: z.string() }));

const batchingOptions = z.object({
  enabled: z.boolean(),
  maxBatchSize: z.number(),
  maxQueueDelayMicroseconds: z.number(),
  preferredBatchSizes: z.array(z.number()),
  maxQueueSize: z.number(),
  queueTimeoutMicroseconds: z.number(),
  instanceCount: z.number(),
});

export const batchingResponse = z
  .object({
    name: z.string(),
    override: batchingOverrideSchema.describe('What this model sets; the rest comes from the server-wide BNSERVE_* settings.'),
    effective: batchingOptions.describe('The settings its scheduler uses now.'),
  })
  .meta({ id: 'ModelBatching' });

export { batchingOverrideSchema };
