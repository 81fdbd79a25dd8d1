// Triton's model_configuration and statistics extensions: GET /v2/models/{m}[/versions/{v}]/config
// and .../stats (what tritonclient's get_model_config / get_inference_statistics and perf_analyzer read).
import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { LoadedVersion, TensorInfo } from '../../dataplane/loaded-version.ts';
import { errorBody, modelParams, versionParams } from '../schemas.ts';
import { v2Datatype } from '../../dataplane/tensor-data.ts';

const tritonType = (t: TensorInfo) => `TYPE_${v2Datatype(t.type)}`;

/** The version's real settings in Triton's model configuration shape. */
function modelConfig(app: FastifyInstance, v: LoadedVersion) {
  const s = app.batchingSettings.get(v.name);
  const batched = v.batchable;
  // With max_batch_size > 0 Triton's dims leave out the batch dimension.
  const tensor = (t: TensorInfo) => ({ name: t.name, data_type: tritonType(t), dims: batched ? t.shape.slice(1) : t.shape });
  const gpu = v.provider !== 'CPUExecutionProvider';
  const loaded = app.models.status(v.name).loaded.map((l) => l.version);
  return {
    name: v.name,
    platform: 'onnxruntime_onnx',
    backend: 'onnxruntime',
    version_policy: { specific: { versions: loaded } },
    max_batch_size: batched ? s.maxBatchSize : 0,
    input: v.inputs.map(tensor),
    output: v.outputs.map(tensor),
    ...(batched && s.enabled
      ? {
          dynamic_batching: {
            preferred_batch_size: s.preferredBatchSizes,
            max_queue_delay_microseconds: s.maxQueueDelayMicroseconds,
            default_queue_policy: {
              timeout_action: 'REJECT',
              default_timeout_microseconds: s.queueTimeoutMicroseconds,
              allow_timeout_override: true,
              max_queue_size: s.maxQueueSize,
            },
          },
        }
      : {}),
    instance_group: [{ name: `${v.name}_0`, kind: gpu ? 'KIND_GPU' : 'KIND_CPU', count: s.instanceCount, ...(gpu ? { gpus: [0] } : {}) }],
    parameters: { execution_provider: { string_value: v.provider } },
  };
}

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
  const config = (model: string, version?: number) => modelConfig(app, app.models.peek(model, version));
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

  /** Every loaded version of the model(s), plus versions with recorded statistics (retired ones keep theirs). */
  const versionsOf = (model?: string) => {
    const keys = new Map<string, { name: string; version: number }>();
    const loaded = model === undefined ? app.models.loadedVersions() : app.models.status(model).loaded;
    for (const v of loaded) keys.set(`${v.name}\0${v.version}`, { name: v.name, version: v.version });
    for (const k of app.metrics.stats.recorded(model)) keys.set(`${k.name}\0${k.version}`, k);
    return [...keys.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  };
  const stats = (list: { name: string; version: number }[]) => ({
    model_stats: list.map((k) => app.metrics.stats.json(k.name, k.version)),
  });

  app.get('/v2/models/stats', { schema: { tags: ['v2'], response: { 200: statsResponse } } }, async () => stats(versionsOf()));
  app.get(
    '/v2/models/:model/stats',
    { schema: { tags: ['v2'], params: modelParams, response: { 200: statsResponse, ...errors } } },
    async (request) => stats(versionsOf(request.params.model)),
  );
  app.get(
    '/v2/models/:model/versions/:version/stats',
    { schema: { tags: ['v2'], params: versionParams, response: { 200: statsResponse, ...errors } } },
    async (request) => {
      const { model, version } = request.params;
      const list = versionsOf(model).filter((k) => k.version === version);
      if (list.length === 0) app.models.peek(model, version); // 404/503 with the manager's message
      return stats(list);
    },
  );
};
