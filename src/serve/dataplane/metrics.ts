import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { clusterMetricsSource } from '../cluster-metrics.ts';
import type { ExecutionTimings } from './batcher.ts';
import { counterChild, histogramChild } from './metric-children.ts';
import { InferenceStats } from './inference-stats.ts';
import type { ModelManager } from './model-manager.ts';
import type { ProviderChain } from './providers.ts';

/** The autoscaling signal; deploy/kubernetes's HPA and Prometheus adapter rule use this exact name. */
export const PENDING_REQUESTS_METRIC = 'bnserve_inference_pending_request_count';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const COLD_START_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

/** "/v1/models/:model(^[^:/]+)::predict" → "/v1/models/:model:predict" (as clients write it). */
export function routeLabel(url: string | undefined): string {
  return url === undefined ? 'unmatched' : url.replace(/\(\^[^)]*\)/g, '').replace(/::/g, ':');
}

/** Memoises one value per key (the label children of a route, model and version). */
function memo<T>(make: (key: string) => T): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    let v = cache.get(key);
    if (v === undefined) {
      v = make(key);
      cache.set(key, v);
    }
    return v;
  };
}

/** Prometheus metrics of one server, in their own registry (several apps can share a process). */
export class ServeMetrics {
  readonly registry = new Registry();
  /** Triton-style per version statistics (GET /v2/models/{m}/stats). */
  readonly stats = new InferenceStats();

  readonly requests = new Counter({
    name: 'bnserve_requests_total',
    help:
      'Requests by route, model, version and status (model/version empty when none was resolved). HTTP: route pattern and ' +
      'status code; gRPC: the method path (/inference.GRPCInferenceService/ModelInfer) and the status name (OK, NOT_FOUND, …).',
    labelNames: ['route', 'model', 'version', 'status'] as const,
    registers: [this.registry],
  });

  readonly requestDuration = new Histogram({
    name: 'bnserve_request_duration_seconds',
    help: 'Time from request received to response sent.',
    labelNames: ['route', 'model', 'version'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly queueDuration = new Histogram({
    name: 'bnserve_queue_duration_seconds',
    help: 'Time an inference waited in the model queue before its run started (Triton: queue time).',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly computeDuration = new Histogram({
    name: 'bnserve_compute_duration_seconds',
    help: 'onnxruntime run time of the (possibly merged) batch that served an inference (Triton: compute time).',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly batchRows = new Histogram({
    name: 'bnserve_batch_rows',
    help: 'Rows in the onnxruntime run that served an inference, observed once per request (larger than the request when merged).',
    labelNames: ['model', 'version'] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly batchSize = new Histogram({
    name: 'bnserve_batch_size',
    help: 'Rows per onnxruntime run, observed once per run (the dynamic batcher at work).',
    labelNames: ['model', 'version'] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly batchRequests = new Histogram({
    name: 'bnserve_batch_requests',
    help: 'Requests merged into one onnxruntime run, observed once per run.',
    labelNames: ['model', 'version'] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });

  readonly queueRejections = new Counter({
    name: 'bnserve_queue_rejections_total',
    help: 'Inferences answered 503 by the scheduler: reason queue_full (maxQueueSize reached) or queue_timeout.',
    labelNames: ['model', 'version', 'reason'] as const,
    registers: [this.registry],
  });

  readonly loadFailures = new Counter({
    name: 'bnserve_model_load_failures_total',
    help: 'Model versions that failed to load, verify or warm up.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly modelLoads = new Counter({
    name: 'bnserve_model_loads_total',
    help:
      'Model versions loaded and warmed up, by trigger: registry (start, polls, promote, admin load) or on_demand ' +
      '(a request for a version that was not loaded: the memory budget unloaded it, or it is asked for by number).',
    labelNames: ['model', 'trigger'] as const,
    registers: [this.registry],
  });

  readonly modelEvictions = new Counter({
    name: 'bnserve_model_evictions_total',
    help:
      'Model versions unloaded by the memory budget, by the limit that was reached: max_versions ' +
      '(BNSERVE_MAX_LOADED_VERSIONS) or memory (BNSERVE_MODEL_MEMORY_MB).',
    labelNames: ['model', 'reason'] as const,
    registers: [this.registry],
  });

  readonly coldStart = new Histogram({
    name: 'bnserve_model_cold_start_seconds',
    help: 'On-demand loads: from the request that found its version unloaded to the version serving (read, session, warm-up, waits).',
    labelNames: ['model'] as const,
    buckets: COLD_START_BUCKETS,
    registers: [this.registry],
  });

  readonly payloadLogWritten = new Counter({
    name: 'bnserve_payload_log_written_total',
    help: 'Inference exchanges written to the payload log (a request and a response event each).',
    registers: [this.registry],
  });

  readonly payloadLogDropped = new Counter({
    name: 'bnserve_payload_log_dropped_total',
    help: 'Inference exchanges the payload log dropped: its queue was full (the sink is slower than the traffic) or the sink failed.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly responseCache = new Counter({
    name: 'bnserve_response_cache_total',
    help: 'Response cache lookups by result (hit: answered without running the model; miss: ran and stored).',
    labelNames: ['model', 'result'] as const,
    registers: [this.registry],
  });

  private readonly requestChildren = memo((key) => {
    const [url, model, version, status] = key.split('\0');
    const route = routeLabel(url === '' ? undefined : url);
    return {
      count: counterChild(this.requests, { route, model, version, status }),
      duration: histogramChild(this.requestDuration, { route, model, version }),
    };
  });

  private readonly inferenceChildren = memo((key) => {
    const [model, version] = key.split('\0');
    return {
      queue: histogramChild(this.queueDuration, { model, version }),
      compute: histogramChild(this.computeDuration, { model, version }),
      rows: histogramChild(this.batchRows, { model, version }),
      batchSize: histogramChild(this.batchSize, { model, version }),
      batchRequests: histogramChild(this.batchRequests, { model, version }),
    };
  });

  readonly unavailable = new Counter({
    name: 'bnserve_unavailable_responses_total',
    help:
      '503 answers by reason: load_failed (the version asked for failed to load), not_loaded (not loaded yet), ' +
      'registry_unavailable, and overload (queue_full, queue_timeout).',
    labelNames: ['route', 'model', 'reason'] as const,
    registers: [this.registry],
  });

  constructor(models: () => ModelManager, providers: ProviderChain) {
    new Gauge({
      name: 'bnserve_registry_up',
      help: '1 while the model registry passes its check (database present and answering), 0 while it does not.',
      registers: [this.registry],
      collect() {
        this.set(models().registryAvailable ? 1 : 0);
      },
    });

    new Gauge({
      name: 'bnserve_models_loaded',
      help: 'Model versions loaded and ready.',
      registers: [this.registry],
      collect() {
        this.set(models().loadedVersions().length);
      },
    });
    new Gauge({
      name: 'bnserve_model_memory_estimate_bytes',
      help:
        'Memory each loaded version is estimated to hold: the RSS growth its load measured, at least its artifact size ' +
        '(what BNSERVE_MODEL_MEMORY_MB counts).',
      labelNames: ['model', 'version'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const v of models().loadedVersions()) this.set({ model: v.name, version: String(v.version) }, v.memory.estimateBytes);
      },
    });
    new Gauge({
      name: PENDING_REQUESTS_METRIC,
      help: "Requests waiting in each model version's queue for an instance (Triton's nv_inference_pending_request_count): the signal to autoscale on.",
      labelNames: ['model', 'version'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const v of models().loadedVersions()) this.set({ model: v.name, version: String(v.version) }, v.queuedRequests);
      },
    });
    new Gauge({
      name: 'bnserve_inference_running_batches',
      help: 'onnxruntime runs in progress per model version (at most its instanceCount).',
      labelNames: ['model', 'version'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const v of models().loadedVersions()) this.set({ model: v.name, version: String(v.version) }, v.runningBatches);
      },
    });
    new Gauge({
      name: 'bnserve_execution_provider_info',
      help: 'Execution provider really used by each loaded model version (value 1).',
      labelNames: ['model', 'version', 'provider'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const v of models().loadedVersions()) this.set({ model: v.name, version: String(v.version), provider: v.provider }, 1);
      },
    });
    new Gauge({
      name: 'bnserve_execution_provider_unavailable',
      help: 'Requested execution providers that failed to initialise and were skipped (value 1).',
      labelNames: ['provider'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of providers.unavailableProviders.keys()) this.set({ provider: p }, 1);
      },
    });
    collectDefaultMetrics({ register: this.registry, prefix: 'bnserve_' });
    this.clusterText = clusterMetricsSource(this.registry);
  }

  private readonly clusterText: (() => Promise<string>) | null;

  /** The Prometheus text: this process's metrics, or the whole cluster's in a BNSERVE_WORKERS worker. */
  text(): Promise<string> {
    return this.clusterText ? this.clusterText() : this.registry.metrics();
  }

  /**
   * One finished request: routeUrl is the HTTP route pattern (undefined when no route matched) or the
   * gRPC method path; status the HTTP status code or the gRPC status name.
   */
  observeRequest(
    routeUrl: string | undefined,
    served: { model: string; version: number } | null,
    status: number | string,
    seconds: number,
  ): void {
    const c = this.requestChildren(`${routeUrl ?? ''}\0${served?.model ?? ''}\0${served ? served.version : ''}\0${status}`);
    c.count.inc();
    c.duration.observe(seconds);
  }

  observeInference(model: string, version: number, r: { queueSeconds: number; computeSeconds: number; batchRows: number }): void {
    const c = this.inferenceChildren(`${model}\0${version}`);
    c.queue.observe(r.queueSeconds);
    c.compute.observe(r.computeSeconds);
    c.rows.observe(r.batchRows);
  }

  observeBatch(model: string, version: number, rows: number, requests: number, timings?: ExecutionTimings): void {
    const c = this.inferenceChildren(`${model}\0${version}`);
    c.batchSize.observe(rows);
    c.batchRequests.observe(requests);
    if (timings) {
      this.stats.execution(model, version, {
        rows,
        inputNs: timings.inputSeconds * 1e9,
        inferNs: timings.inferSeconds * 1e9,
        outputNs: timings.outputSeconds * 1e9,
      });
    }
  }

  observeRejection(model: string, version: number, reason: string): void {
    this.queueRejections.inc({ model, version: String(version), reason });
  }

  observeCache(model: string, result: 'hit' | 'miss'): void {
    this.responseCache.inc({ model, result });
  }
}
