// One window of load on a local server: autocannon in a worker thread (so that the load generator
// and the server, which runs in this process, do not share one event loop), the same JSON body on
// every connection.
import { createRequire } from 'node:module';

export interface LoadResult {
  requests: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Non-2xx answers, connection errors and timeouts. */
  failed: number;
}

interface AutocannonResult {
  requests: { total: number };
  latency: { p50: number; p99: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

export interface LoadOptions {
  url: string;
  body: string;
  connections: number;
  seconds: number;
}

/** Runs `connections` concurrent clients for `seconds` and summarises what they saw. */
export async function runLoad(opts: LoadOptions): Promise<LoadResult> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const r = await autocannon({
    url: opts.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: opts.body,
    connections: opts.connections,
    duration: opts.seconds,
    workers: 1,
  });
  const requests = r.requests.total;
  return {
    requests,
    requestsPerSecond: r.duration > 0 ? requests / r.duration : 0,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    failed: r.non2xx + r.errors + r.timeouts,
  };
}
