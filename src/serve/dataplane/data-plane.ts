// The data plane: one object that both transports (http/, grpc/) call for everything that is not
// transport: leases on the version that should answer, inference (tensors in, tensors out), the
// :predict rows path, and the health and metadata answers. As KServe's DataPlane
// (kserve/protocol/dataplane.py): built once, handed to each server.
import { PayloadLogger, payloadSink } from './payload-log.ts';
import { ResponseCache, responseCacheKey } from './response-cache.ts';
import { BnserveError } from '../../lib/errors.ts';
import { BNSERVE_VERSION } from '../../lib/version.ts';
import type { Registry } from '../../registry/types.ts';
import { ortSessionOptions, type ServeConfig } from '../config.ts';
import { OverloadedError, type BatchResult } from './batcher.ts';
import { BatchingSettings, storedBatchingSync } from './batching-settings.ts';
import { InvalidInputError, ModelUnavailableError } from './errors.ts';
import {
  assertTakesRows,
  bindInputs,
  checkShape,
  type PredictResult,
  submitOptions,
  type TensorRequest,
  type VersionRef,
  wantedOutputs,
} from './inference.ts';
import { predictionOutput, type LoadedVersion, type TensorInfo } from './loaded-version.ts';
import { ServeMetrics } from './metrics.ts';
import { describeFailure, type Lease, type ManagerLog, ModelManager } from './model-manager.ts';
import { assertFiniteOutput, classPredictions, regressionPredictions } from './predictions.ts';
import { ProviderChain } from './providers.ts';
import { rowsToTensor, v2Datatype, type ElementArray, type ModelElementType } from './tensor-data.ts';
import type { OutputTensor } from './tensors.ts';
import type { TensorMetadata } from './tensor-metadata.ts';

export const SERVER_NAME = 'bnserve';
export const SERVER_VERSION = BNSERVE_VERSION;

/** The server's lifecycle as the data plane sees it. */
export interface Lifecycle {
  /** Set when shutdown begins: readiness turns 503 and every response says "Connection: close". */
  draining: boolean;
}

export interface DataPlaneParts {
  registry: Registry;
  models: ModelManager;
  metrics: ServeMetrics;
  batching: BatchingSettings;
  config: ServeConfig;
  lifecycle: Lifecycle;
  log: ManagerLog;
  /** Applies the batching overrides stored in the registry (never rejects). */
  syncSettings?: () => Promise<void>;
}

const tensorMeta = (t: TensorInfo): TensorMetadata => ({ name: t.name, datatype: v2Datatype(t.type), shape: t.shape });

export class DataPlane {
  readonly registry: Registry;
  readonly models: ModelManager;
  readonly metrics: ServeMetrics;
  /** Batching options per model (BNSERVE_MODEL_BATCHING; the admin routes change them at run time). */
  readonly batching: BatchingSettings;
  readonly config: ServeConfig;
  readonly lifecycle: Lifecycle;
  readonly log: ManagerLog;
  /** Triton's response cache, for the models that opt in (BNSERVE_RESPONSE_CACHE_MB / _MODELS). */
  readonly responseCache: ResponseCache;
  /** Sampled exchanges as CloudEvents (BNSERVE_PAYLOAD_LOG); null when off. */
  readonly payloadLog: PayloadLogger | null;
  private readonly syncSettings?: () => Promise<void>;

  constructor(parts: DataPlaneParts) {
    this.syncSettings = parts.syncSettings;
    this.registry = parts.registry;
    this.models = parts.models;
    this.metrics = parts.metrics;
    this.batching = parts.batching;
    this.config = parts.config;
    this.lifecycle = parts.lifecycle;
    this.log = parts.log;
    this.responseCache = new ResponseCache(parts.config.responseCache.maxBytes);
    const log = parts.config.payloadLog;
    this.payloadLog = log
      ? new PayloadLogger(log, payloadSink(log), {
          written: () => parts.metrics.payloadLogWritten.inc(),
          dropped: (reason) => parts.metrics.payloadLogDropped.inc({ reason }),
        })
      : null;
  }

  /** Queues a sampled OIP exchange for the payload log, with the inputs as decoded and the outputs as answered. */
  private logPayload(
    v: LoadedVersion,
    request: TensorRequest,
    feeds: Record<string, { data: ElementArray; dims: number[] }>,
    outputs: readonly OutputTensor[],
  ): void {
    if (!this.payloadLog?.wants(v.name)) return;
    const inputs = Object.entries(feeds).map(([name, f]) => ({
      name,
      shape: f.dims,
      datatype: v2Datatype(v.inputs.find((i) => i.name === name)?.type ?? ''),
      data: f.data,
    }));
    this.payloadLog.record({
      model: v.name,
      version: v.version,
      requestId: request.requestId ?? '',
      request: { inputs, ...(request.outputs?.length ? { outputs: request.outputs.map((name) => ({ name })) } : {}) },
      response: { model_name: v.name, model_version: String(v.version), outputs },
    });
  }

  private cachesFor(model: string): boolean {
    const { maxBytes, models } = this.config.responseCache;
    return maxBytes > 0 && (models === null || models.includes(model));
  }

  /** The model manager over the registry, its metrics and batching settings, as the server runs them. */
  static create({ registry, config, log }: { registry: Registry; config: ServeConfig; log: ManagerLog }): DataPlane {
    const providers = new ProviderChain(config.providers, (message, failure) => log.warn({ provider: failure.provider }, message));
    const metrics = new ServeMetrics(() => models, providers);
    const batching = new BatchingSettings(config.batching, config.modelBatching);
    const syncSettings = storedBatchingSync(registry, batching, log);
    const models: ModelManager = new ModelManager({
      registry,
      providers,
      load: {
        batching: (model) => batching.get(model),
        onBatch: (model, version, rows, requests, timings) => metrics.observeBatch(model, version, rows, requests, timings),
        sessionOptions: ortSessionOptions(config),
      },
      log,
      onLoadFailure: (name) => metrics.loadFailures.inc({ model: name }),
      budget: config.modelBudget,
      events: {
        loaded: (name, _version, trigger) => metrics.modelLoads.inc({ model: name, trigger }),
        evicted: (name, _version, reason) => metrics.modelEvictions.inc({ model: name, reason }),
        coldStart: (name, _version, seconds) => metrics.coldStart.observe({ model: name }, seconds),
      },
      staleRunMs: config.staleRunMs,
      defaultAlias: config.defaultAlias,
      strictReadiness: config.strictReadiness,
      syncSettings,
    });
    return new DataPlane({ registry, models, metrics, batching, config, lifecycle: { draining: false }, log, syncSettings });
  }

  /**
   * Reads the registry, loads and warms the models it says to serve, then polls it. startServer
   * calls it after listening; a registry that cannot be read leaves the server live but not ready,
   * and polling retries.
   */
  async start(): Promise<void> {
    if (await this.models.checkRegistry()) {
      // Stored overrides first: the versions loaded next start with their instance count.
      await this.syncSettings?.();
      await this.models.refreshAll().catch((err) => this.log.error({ err }, 'initial model load failed'));
    }
    this.models.startPolling(this.config.refreshIntervalMs);
  }

  /** Stops polling and releases every loaded version. */
  async close(): Promise<void> {
    await this.models.close();
    await this.payloadLog?.close();
  }

  /**
   * Acquires the serving version for one call of either protocol and releases it when fn is done.
   * An inference that fails counts as a failure for the statistics extension; one the scheduler
   * turns away (queue full, queue timeout) as a rejection.
   */
  async lease<T>(
    name: string,
    ref: VersionRef,
    /** Whether the call is an inference (metadata lookups are not counted as failed inferences). */
    inference: boolean,
    fn: (v: LoadedVersion) => Promise<T>,
  ): Promise<T> {
    const lease: Lease = await this.models.acquire(name, ref);
    const started = performance.now();
    try {
      return await fn(lease.version);
    } catch (err) {
      if (inference) this.metrics.stats.failure(lease.version.name, lease.version.version, (performance.now() - started) * 1e6);
      if (err instanceof OverloadedError) this.metrics.observeRejection(lease.version.name, lease.version.version, err.reason);
      throw err;
    } finally {
      lease.release();
    }
  }

  /**
   * One Open Inference Protocol inference, whatever the protocol: binds and checks the inputs,
   * decodes them, runs them through the model's scheduler (batching), checks the outputs, and hands
   * them to `encode`; records metrics and statistics. Errors are domain errors for the caller's edge.
   */
  async runTensors<R>(v: LoadedVersion, request: TensorRequest, encode: (outputs: OutputTensor[]) => R): Promise<R> {
    const wanted = wantedOutputs(v, request.outputs);
    const started = performance.now();
    const opts = submitOptions(request.parameters);
    const feeds: Record<string, { data: ElementArray; dims: number[] }> = {};
    // Binary data follows the order of the request's inputs array, so decode in that order.
    const bound = [...bindInputs(v, request.inputs, this.config.strictInputNames)].sort((a, b) => a[1].index - b[1].index);
    for (const [info, { index, input }] of bound) {
      const where = `inputs[${index}]`;
      checkShape(info, input.shape, where);
      feeds[info.name] = { data: input.decode(info.type as ModelElementType, where), dims: input.shape };
    }
    request.afterDecode?.();
    const decoded = performance.now();
    const rows = feeds[v.inputs[0].name].dims[0] ?? 1;
    const cacheKey = this.cachesFor(v.name) ? responseCacheKey(v.name, v.version, wanted, feeds) : null;
    const cached = cacheKey ? this.responseCache.get(cacheKey) : undefined;
    const lookupNs = (performance.now() - decoded) * 1e6;
    if (cached) {
      const answer = encode(cached);
      this.logPayload(v, request, feeds, cached);
      this.metrics.observeCache(v.name, 'hit');
      this.metrics.stats.cacheHit(v.name, v.version, rows, lookupNs, (performance.now() - started) * 1e6);
      return answer;
    }
    const result = await v.runFeeds(feeds, opts).catch((err: unknown) => {
      // Row models are fully checked above; several inputs can still disagree (e.g. batch sizes).
      if (v.takesRows || err instanceof BnserveError) throw err;
      throw new InvalidInputError(`the model rejected the inputs: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
    });
    const ran = performance.now();
    this.metrics.observeInference(v.name, v.version, result);
    const outputs = wanted.map((name) => {
      const t = result.outputs[name];
      assertFiniteOutput(name, t);
      return t;
    });
    if (cacheKey) {
      const storing = performance.now();
      this.responseCache.set(cacheKey, outputs);
      this.metrics.observeCache(v.name, 'miss');
      this.metrics.stats.cacheMiss(v.name, v.version, lookupNs + (performance.now() - storing) * 1e6);
    }
    const answer = encode(outputs);
    this.recordSuccess(v, rows, result, started, decoded, ran);
    this.logPayload(v, request, feeds, outputs);
    return answer;
  }

  /** TF-Serving's row form: rows (arrays or objects keyed by feature name) → labels and probabilities, or values. */
  async predictRows(v: LoadedVersion, instances: readonly unknown[], requestId?: string): Promise<PredictResult> {
    assertTakesRows(v);
    const started = performance.now();
    const data = rowsToTensor(instances, { target: v.inputType, rowShape: v.rowShape, featureNames: v.record.featureNames });
    const decoded = performance.now();
    const result = await v.runRows(data, instances.length);
    const ran = performance.now();
    this.metrics.observeInference(v.name, v.version, result);
    const output = predictionOutput(v.record, v.outputs);
    const values = result.outputs[output.name];
    assertFiniteOutput(output.name, values);
    const predictions = v.record.task === 'classification' ? classPredictions(values, v.record.classLabels) : regressionPredictions(values);
    this.recordSuccess(v, instances.length, result, started, decoded, ran);
    const answer = { predictions, model_version: v.version };
    if (this.payloadLog?.wants(v.name)) {
      this.payloadLog.record({ model: v.name, version: v.version, requestId: requestId ?? '', request: { instances }, response: answer });
    }
    return answer;
  }

  /**
   * Statistics extension, one successful request: success from the start of decoding its tensors
   * to its encoded outputs; queue and compute_infer from the batcher; compute_input the decoding;
   * compute_output the encoding (JSON numbers or binary parts).
   */
  private recordSuccess(v: LoadedVersion, rows: number, result: BatchResult, started: number, decoded: number, ran: number) {
    const now = performance.now();
    this.metrics.stats.success(v.name, v.version, {
      rows,
      totalNs: (now - started) * 1e6,
      queueNs: result.queueSeconds * 1e9,
      inputNs: (decoded - started) * 1e6,
      inferNs: result.computeSeconds * 1e9,
      outputNs: (now - ran) * 1e6,
    });
  }

  /**
   * Ready when every model that should serve does, and not shutting down (both protocols answer the
   * same); `strict` overrides BNSERVE_STRICT_READINESS (alerts ask for the strict answer).
   */
  serverReadiness(strict?: boolean): { ready: boolean; reasons: string[] } {
    const { reasons } = this.models.readiness(strict);
    if (this.lifecycle.draining) reasons.unshift('shutting down');
    return { ready: reasons.length === 0, reasons };
  }

  /** Open Inference Protocol server metadata (both protocols answer the same). */
  serverMetadata() {
    return {
      name: SERVER_NAME,
      version: SERVER_VERSION,
      // model_repository only when usable (its routes answer 403 without an admin token).
      extensions: [
        ...(this.config.adminToken ? ['model_repository'] : []),
        'model_configuration',
        'statistics',
        'tf_serving_predict',
        'binary_tensor_data',
      ],
    };
  }

  /** Open Inference Protocol model metadata with bnserve's additions (REST answers all of it, gRPC the protocol's fields). */
  modelMetadata(v: LoadedVersion) {
    const status = this.models.status(v.name);
    const readiness = this.models.modelReadiness(v.name);
    return {
      name: v.name,
      versions: status.loaded.map((l) => String(l.version)),
      platform: 'onnxruntime_onnx',
      inputs: v.inputs.map(tensorMeta),
      outputs: v.outputs.map(tensorMeta),
      version: String(v.version),
      execution_provider: v.provider,
      task: v.record.task,
      labels: v.record.classLabels,
      feature_names: v.record.featureNames,
      folded: v.record.folded,
      parity_max_abs_diff: v.record.parityMaxAbsDiff,
      bn_guard_warning: v.record.bnGuardWarning,
      aliases: status.aliases,
      load_errors: status.failures.map((f) => ({ version: f.version, error: f.reason, retrying: !f.permanent, at: f.at.toISOString() })),
      memory: { artifact_bytes: v.memory.artifactBytes, load_rss_bytes: v.memory.loadRssBytes, estimate_bytes: v.memory.estimateBytes },
      ready: !v.isReleased && readiness.ready,
      reasons: readiness.reasons,
    };
  }

  /**
   * A model is ready when its default version and every alias target are served (Triton: all the
   * versions that should be ready are); a version by number when it is loaded. 503 answers say why.
   */
  async modelReady(model: string, version: number | undefined) {
    // With a memory budget, a version it unloaded is ready: its next request loads it (a cold start).
    const onDemand = this.models.loadsOnDemand(model, version);
    if (onDemand !== null) return { code: 200 as const, body: { name: model, version: String(onDemand), ready: true } };
    try {
      const v = this.models.peek(model, version);
      const reasons = version === undefined ? this.models.modelReadiness(model).reasons : [];
      if (reasons.length > 0) {
        return { code: 503 as const, body: { name: model, version: String(v.version), ready: false, error: reasons.join('; '), reasons } };
      }
      return { code: 200 as const, body: { name: model, version: String(v.version), ready: !v.isReleased } };
    } catch (err) {
      const failure =
        version !== undefined && err instanceof BnserveError && err.code === 'not_found' ? this.models.failure(model, version) : null;
      if (failure) {
        const error = `model "${model}" ${describeFailure(failure)}`;
        return { code: 503 as const, body: { name: model, version: String(version), ready: false, error, reasons: [error] } };
      }
      if (err instanceof ModelUnavailableError) {
        return { code: 503 as const, body: { name: model, ready: false, error: err.message, reasons: [err.message] } };
      }
      throw err;
    }
  }
}
