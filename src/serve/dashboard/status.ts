// The server's own state for the dashboard: what is loaded where, queues, and the histograms the
// Prometheus registry already keeps (summed over their labels).
import type { FastifyInstance } from 'fastify';
import type { Histogram } from './api-schemas.ts';

const HISTOGRAMS = ['bnserve_request_duration_seconds', 'bnserve_batch_size', 'bnserve_batch_rows', 'bnserve_queue_duration_seconds'];

interface MetricValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

function histogramView(name: string, help: string, values: MetricValue[]): Histogram {
  const cumulative = new Map<string, number>();
  let count = 0;
  let sum = 0;
  for (const v of values) {
    if (v.metricName === `${name}_bucket`) {
      const le = String(v.labels.le);
      cumulative.set(le, (cumulative.get(le) ?? 0) + v.value);
    } else if (v.metricName === `${name}_count`) count += v.value;
    else if (v.metricName === `${name}_sum`) sum += v.value;
  }
  const bounds = [...cumulative.keys()].sort((a, b) => (a === '+Inf' ? 1 : b === '+Inf' ? -1 : Number(a) - Number(b)));
  let previous = 0;
  const buckets = bounds.map((le) => {
    const total = cumulative.get(le) ?? 0;
    const bucket = { le, count: total - previous };
    previous = total;
    return bucket;
  });
  return { name, help, buckets, count, sum };
}

export async function serverStatus(app: FastifyInstance) {
  const names = [...new Set((await app.models.index()).map((entry) => entry.name))];
  const models = names.flatMap((name) => {
    try {
      const s = app.models.status(name);
      return [
        {
          name,
          unloaded: s.unloaded,
          defaultVersion: s.defaultVersion,
          aliases: s.aliases,
          loaded: s.loaded.map((v) => ({
            version: v.version,
            executionProvider: v.provider,
            inflight: v.inflightRequests,
            queued: v.queuedRequests,
            runningBatches: v.runningBatches,
            loadedAt: v.loadedAt.toISOString(),
            memoryBytes: v.memory.estimateBytes,
          })),
          failures: s.failures.map((f) => ({ version: f.version, reason: f.reason, retrying: !f.permanent })),
          evicted: s.evicted,
        },
      ];
    } catch {
      return []; // forgotten between the index and now
    }
  });
  const metrics = (await app.metrics.registry.getMetricsAsJSON()) as unknown as { name: string; help: string; values: MetricValue[] }[];
  const histograms = HISTOGRAMS.flatMap((name) => {
    const metric = metrics.find((m) => m.name === name);
    return metric ? [histogramView(name, metric.help, metric.values)] : [];
  });
  const values = (name: string) => metrics.find((m) => m.name === name)?.values ?? [];
  const total = (name: string, where: (v: MetricValue) => boolean = () => true) =>
    values(name)
      .filter(where)
      .reduce((n, v) => n + v.value, 0);
  const budget = app.models.budgetStatus();
  const coldStarts = total('bnserve_model_cold_start_seconds', (v) => v.metricName === 'bnserve_model_cold_start_seconds_count');
  const coldSeconds = total('bnserve_model_cold_start_seconds', (v) => v.metricName === 'bnserve_model_cold_start_seconds_sum');
  const hits = total('bnserve_response_cache_total', (v) => v.labels.result === 'hit');
  const misses = total('bnserve_response_cache_total', (v) => v.labels.result === 'miss');
  const dropped: Record<string, number> = {};
  for (const v of values('bnserve_payload_log_dropped_total'))
    dropped[String(v.labels.reason)] = (dropped[String(v.labels.reason)] ?? 0) + v.value;
  const requests = metrics.find((m) => m.name === 'bnserve_requests_total');
  const byStatus: Record<string, number> = {};
  for (const v of requests?.values ?? []) byStatus[String(v.labels.status)] = (byStatus[String(v.labels.status)] ?? 0) + v.value;
  return {
    time: new Date().toISOString(),
    uptimeSeconds: process.uptime(),
    ready: app.models.readiness().ready,
    registryAvailable: app.models.registryAvailable,
    configuredProviders: app.serveConfig.providers,
    adminEnabled: Boolean(app.serveConfig.adminToken),
    queueDepth: models.reduce((n, m) => n + m.loaded.reduce((q, v) => q + v.queued, 0), 0),
    models,
    requestsByStatus: byStatus,
    histograms,
    budget: {
      enabled: budget.enabled,
      maxVersions: budget.maxVersions,
      memoryMb: budget.memoryBytes / (1024 * 1024),
      loadedVersions: budget.loadedVersions,
      memoryBytes: budget.usedBytes,
      over: budget.over,
      loads: total('bnserve_model_loads_total'),
      evictions: total('bnserve_model_evictions_total'),
      coldStarts,
      coldStartMeanSeconds: coldStarts > 0 ? coldSeconds / coldStarts : null,
    },
    responseCache: {
      enabled: app.serveConfig.responseCache.maxBytes > 0,
      hits,
      misses,
      hitRatio: hits + misses > 0 ? hits / (hits + misses) : null,
    },
    payloadLog: { enabled: app.serveConfig.payloadLog !== null, written: total('bnserve_payload_log_written_total'), dropped },
  };
}
