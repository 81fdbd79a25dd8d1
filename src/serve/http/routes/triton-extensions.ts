// Triton's model_configuration and statistics extensions: GET /v2/models/{m}[/versions/{v}]/config
// and .../stats (what tritonclient's get_model_config / get_inference_statistics and perf_analyzer read).
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { modelConfigurationOf, modelStatistics } from '../../dataplane/triton-extensions.ts';
import { errorBody, modelParams, versionParams } from '../schemas.ts';

const configResponse = z
  .record(z.string(), z.unknown())
  .meta({ description: "Triton's model configuration (model_config.proto as JSON)." });
const duration = z.object({ count: z.number(), ns: z.number() });
const modelStats = z.object({
  name: z.string(),
  version: z.string(),
  last_inference: z.number(),
  inference_count: z.number(),
  execution_count: z.number(),
  inference_stats: z.object({
    success: duration,
    fail: duration,
    queue: duration,
    compute_input: duration,
    compute_infer: duration,
    compute_output: duration,
    cache_hit: duration,
    cache_miss: duration,
  }),
  batch_stats: z.array(z.object({ batch_size: z.number(), compute_input: duration, compute_infer: duration, compute_output: duration })),
});
const statsResponse = z.object({ model_stats: z.array(modelStats) });

export const tritonExtensionRoutes: FastifyPluginAsyncZod = async (app) => {
  const errors = { 400: errorBody, 404: errorBody, 503: errorBody };
  // The same builders answer gRPC's ModelConfig and ModelStatistics (src/serve/dataplane/triton-extensions.ts).
  const config = (model: string, version?: number) => modelConfigurationOf(app.dataPlane, model, version);
  app.get(
    '/v2/models/:model/config',
    { schema: { tags: ['v2'], params: modelParams, response: { 200: configResponse, ...errors } } },
    async (request) => config(request.params.model),
  );
  app.get(
    '/v2/models/:model/versions/:version/config',
    { schema: { tags: ['v2'], params: versionParams, response: { 200: configResponse, ...errors } } },
    async (request) => config(request.params.model, request.params.version),
  );

  app.get('/v2/models/stats', { schema: { tags: ['v2'], response: { 200: statsResponse } } }, async () => modelStatistics(app.dataPlane));
  app.get(
    '/v2/models/:model/stats',
    { schema: { tags: ['v2'], params: modelParams, response: { 200: statsResponse, ...errors } } },
    async (request) => modelStatistics(app.dataPlane, request.params.model),
  );
  app.get(
    '/v2/models/:model/versions/:version/stats',
    { schema: { tags: ['v2'], params: versionParams, response: { 200: statsResponse, ...errors } } },
    async (request) => modelStatistics(app.dataPlane, request.params.model, request.params.version),
  );
};
