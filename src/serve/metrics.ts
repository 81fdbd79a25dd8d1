import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ModelManager } from './model-manager.ts';
import type { ProviderChain } from './providers.ts';

const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** Prometheus metrics of one server, in their own registry (several apps can share a process). */
export class ServeMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'bnserve_requests_total',
    help: 'HTTP requests by route, model, version and status code (model/version empty when none was resolved).',
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
    help: 'Time an inference waited for the model to be free (micro-batching queue).',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly computeDuration = new Histogram({
    name: 'bnserve_compute_duration_seconds',
    help: 'onnxruntime run time of the (possibly merged) batch that served an inference.',
    labelNames: ['model', 'version'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly batchRows = new Histogram({
    name: 'bnserve_batch_rows',
    help: 'Rows in the onnxruntime run that served an inference (larger than the request when merged).',
    labelNames: ['model', 'version'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });

  readonly loadFailures = new Counter({
    name: 'bnserve_model_load_failures_total',
    help: 'Model versions that failed to load, verify or warm up.',
    labelNames: ['model'] as const,
    registers: [this.registry],
  });

  readonly unavailable = new Counter({
    name: 'bnserve_unavailable_responses_total',
    help:
      '503 answers by reason: load_failed (the version asked for failed to load), not_loaded (not loaded yet), ' +
      'registry_unavailable; kept apart from overload.',
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
  }

  observeInference(model: string, version: number, r: { queueSeconds: number; computeSeconds: number; batchRows: number }): void {
    const labels = { model, version: String(version) };
    this.queueDuration.observe(labels, r.queueSeconds);
    this.computeDuration.observe(labels, r.computeSeconds);
    this.batchRows.observe(labels, r.batchRows);
  }
}
