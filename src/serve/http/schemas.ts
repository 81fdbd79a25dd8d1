// zod schemas for every route: validation (fastify-type-provider-zod) and /docs come from these.
// The request schemas gRPC checks too (names, versions, the inference request) are in
// dataplane/request-schemas.ts.
// Only module-level schemas carry a registry id: ids are global and factories run once per app.
import { z } from 'zod';
import { PRODUCTION_ALIAS } from '../../lib/names.ts';
import { batchingOptionsSchema, batchingOverrideSchema } from '../../lib/batching.ts';
import { aliasName, inferBody, modelName, tensorValues, versionNumber } from '../dataplane/request-schemas.ts';
import { tensorMetadata } from '../dataplane/tensor-metadata.ts';

export const errorBody = z.object({ error: z.string() }).meta({ id: 'Error' });

export { aliasName, inferBody, modelName, tensorValues, versionNumber };

export const modelParams = z.object({ model: modelName });
export const versionParams = z.object({ model: modelName, version: versionNumber });
export const aliasParams = z.object({ model: modelName, alias: aliasName });

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
    /** BN statistics folded into the weights (trained or imported), and the parity gate's measurement. */
    folded: z.boolean(),
    parity_max_abs_diff: z.number(),
    /** The BN guard's finding when it flagged this version (served only by number or a forced alias); null otherwise. */
    bn_guard_warning: z.string().nullable(),
    aliases: z.record(z.string(), z.number()),
    /** The memory budget's view of this version: artifact size, RSS growth its load measured (0 before one), what it counts as. */
    memory: z.object({ artifact_bytes: z.number(), load_rss_bytes: z.number(), estimate_bytes: z.number() }),
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

export const batchingResponse = z
  .object({
    name: z.string(),
    override: batchingOverrideSchema.describe('What this model sets; the rest comes from the server-wide BNSERVE_* settings.'),
    effective: batchingOptionsSchema.describe('The settings its scheduler uses now.'),
  })
  .meta({ id: 'ModelBatching' });

export { batchingOverrideSchema };
