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
          })),
          failures: s.failures.map((f) => ({ version: f.version, reason: f.reason, retrying: !f.permanent })),
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
  };
}
