// With BNSERVE_WORKERS > 1 each serving process keeps its own Prometheus registry, and a scrape
// reaches whichever process accepted the connection. So a worker answers /metrics with the whole
// cluster's metrics: it asks the primary, which gathers every worker's registry through
// prom-client's AggregatorRegistry (counters and histograms summed, gauges summed per label set,
// so the pending-requests gauge is the pod's total).
import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'bnserve:cluster-metrics';
const REPLY = 'bnserve:cluster-metrics-reply';
const TIMEOUT_MS = 5_000;

interface Reply {
  type: typeof REPLY;
  id: string;
  text?: string;
  error?: string;
}

/** In the primary: answers the workers' requests for the cluster's metrics. */
export function answerClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: { type?: unknown; id?: unknown }) => {
    if (message?.type !== REQUEST || typeof message.id !== 'string') return;
    const id = message.id;
    aggregator.clusterMetrics().then(
      (text) => worker.send({ type: REPLY, id, text } satisfies Reply),
      (err: unknown) => worker.send({ type: REPLY, id, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
    );
  });
}

/**
 * In a worker: offers its registry to the primary's aggregator and returns how to fetch the
 * cluster's metrics text; null outside a cluster worker (then the process's own registry is the answer).
 */
export function clusterMetricsSource(registry: Registry): (() => Promise<string>) | null {
  if (!cluster.isWorker || !process.send) return null;
  // prom-client answers the primary's requests from a worker once an AggregatorRegistry exists there.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const waiting = new Map<string, { resolve: (text: string) => void; reject: (err: Error) => void }>();
  process.on('message', (message: Reply) => {
    if (message?.type !== REPLY) return;
    const w = waiting.get(message.id);
    if (!w) return;
    waiting.delete(message.id);
    if (message.text !== undefined) w.resolve(message.text);
    else w.reject(new Error(`the primary could not gather the cluster's metrics: ${message.error}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`the primary did not answer a metrics request within ${TIMEOUT_MS} ms`));
      }, TIMEOUT_MS);
      timer.unref();
      waiting.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      process.send!({ type: REQUEST, id });
    });
}
