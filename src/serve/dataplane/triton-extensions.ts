// Triton's model_configuration and statistics extensions, once for both transports: REST's
// GET /v2/models/{m}[/versions/{v}]/config and .../stats, and gRPC's ModelConfig and ModelStatistics
// (what tritonclient's get_model_config / get_inference_statistics and perf_analyzer read) answer
// from these builders. The shapes are model_config.proto's ModelConfig and grpc_service.proto's
// ModelStatistics with their field names, so REST serialises them as JSON and gRPC as the typed messages.
import type { BatchingSettings } from './batching-settings.ts';
import type { InferenceStats } from './inference-stats.ts';
import type { LoadedVersion, TensorInfo } from './loaded-version.ts';
import type { ServeMetrics } from './metrics.ts';
import type { ModelManager } from './model-manager.ts';
import { v2Datatype } from './tensor-data.ts';

/** What the builders read (a DataPlane has all of it). */
export interface TritonSources {
  models: ModelManager;
  batching: BatchingSettings;
  metrics: ServeMetrics;
}

/** One version's statistics: grpc_service.proto's ModelStatistics fields. */
export type VersionStatsJson = ReturnType<InferenceStats['json']>;

export interface TritonModelTensor {
  name: string;
  /** model_config.proto's DataType name: TYPE_ + the Open Inference Protocol datatype, BYTES as TYPE_STRING. */
  data_type: string;
  /** Without the batch dimension when max_batch_size > 0. */
  dims: number[];
}

// A type, not an interface: REST's response schema takes it as a record.
export type TritonModelConfig = {
  name: string;
  platform: 'onnxruntime_onnx';
  backend: 'onnxruntime';
  version_policy: { specific: { versions: number[] } };
  max_batch_size: number;
  input: TritonModelTensor[];
  output: TritonModelTensor[];
  dynamic_batching?: {
    preferred_batch_size: number[];
    max_queue_delay_microseconds: number;
    default_queue_policy: {
      timeout_action: 'REJECT';
      default_timeout_microseconds: number;
      allow_timeout_override: boolean;
      max_queue_size: number;
    };
  };
  instance_group: { name: string; kind: 'KIND_GPU' | 'KIND_CPU'; count: number; gpus?: number[] }[];
  parameters: Record<string, { string_value: string }>;
};

const tritonType = (t: TensorInfo) => {
  const datatype = v2Datatype(t.type);
  return datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`;
};

/** The version's real settings in Triton's model configuration shape. */
export function modelConfiguration(sources: Pick<TritonSources, 'models' | 'batching'>, v: LoadedVersion): TritonModelConfig {
  const s = sources.batching.get(v.name);
  const batched = v.batchable;
  // With max_batch_size > 0 Triton's dims leave out the batch dimension.
  const tensor = (t: TensorInfo) => ({ name: t.name, data_type: tritonType(t), dims: batched ? t.shape.slice(1) : t.shape });
  const gpu = v.provider !== 'CPUExecutionProvider';
  const loaded = sources.models.status(v.name).loaded.map((l) => l.version);
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
              timeout_action: 'REJECT' as const,
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

/** The config of the version a call names (its default version when none), as REST's /config and gRPC's ModelConfig answer. */
export function modelConfigurationOf(sources: Pick<TritonSources, 'models' | 'batching'>, model: string, version?: number) {
  return modelConfiguration(sources, sources.models.peek(model, version));
}

/**
 * Every loaded version of the model (or of every model), plus versions with recorded statistics
 * (retired ones keep theirs), sorted by name then version. An unknown model is not_found.
 */
function versionsWithStatistics(sources: Pick<TritonSources, 'models' | 'metrics'>, model?: string) {
  const keys = new Map<string, { name: string; version: number }>();
  const loaded = model === undefined ? sources.models.loadedVersions() : sources.models.status(model).loaded;
  for (const v of loaded) keys.set(`${v.name}\0${v.version}`, { name: v.name, version: v.version });
  for (const k of sources.metrics.stats.recorded(model)) keys.set(`${k.name}\0${k.version}`, k);
  return [...keys.values()].sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
}

/**
 * Triton's statistics: every model (no model), every version of one (no version), or one version;
 * an unknown model, or a version neither loaded nor with statistics, is the manager's error
 * (not_found, or unavailable while the model cannot serve).
 */
export function modelStatistics(
  sources: Pick<TritonSources, 'models' | 'metrics'>,
  model?: string,
  version?: number,
): { model_stats: VersionStatsJson[] } {
  let list = versionsWithStatistics(sources, model);
  if (model !== undefined && version !== undefined) {
    list = list.filter((k) => k.version === version);
    if (list.length === 0) sources.models.peek(model, version);
  }
  return { model_stats: list.map((k) => sources.metrics.stats.json(k.name, k.version)) };
}
