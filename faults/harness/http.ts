// Loopback HTTP for the fault suite: one request helper on node:http (so that connection errors keep
// their codes: ECONNRESET, ECONNREFUSED, socket hang up…), keep-alive agents, and a bounded load loop.
import http from 'node:http';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RequestSpec {
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  body?: string | Buffer;
}

export class RequestFailure extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
  }
}

/** Names a client-side failure: the error code when there is one (ECONNRESET…), else its message. */
export function failureKind(err: unknown): string {
  if (err instanceof RequestFailure) return err.kind;
  const e = err as NodeJS.ErrnoException;
  if (e?.code) return e.code;
  return e?.message ?? String(err);
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

/** Sends one request to base (http://127.0.0.1:port); rejects with a RequestFailure on any connection problem or timeout. */
export function request(
  base: string,
  spec: RequestSpec,
  opts: { agent?: http.Agent | false; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  const url = new URL(base);
  if (url.hostname !== '127.0.0.1') throw new Error(`the fault suite talks to 127.0.0.1 only, not ${url.hostname}`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port: Number(url.port),
        method: spec.method ?? 'GET',
        path: spec.path,
        headers: spec.headers,
        agent: opts.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', (err) => reject(new RequestFailure(failureKind(err), err.message)));
      },
    );
    req.setTimeout(opts.timeoutMs ?? 10_000, () =>
      req.destroy(new RequestFailure('timeout', `no answer within ${opts.timeoutMs ?? 10_000} ms`)),
    );
    req.on('error', (err) => reject(err instanceof RequestFailure ? err : new RequestFailure(failureKind(err), err.message)));
    if (spec.body !== undefined) req.end(spec.body);
    else req.end();
  });
}

export const IRIS_ROW = [5.1, 3.5, 1.4, 0.2];
/** A row near the versicolor/virginica border, where two differently seeded models disagree most. */
export const BORDER_ROW = [6.0, 2.7, 5.0, 1.6];

export function predictSpec(model: string, row: number[] = BORDER_ROW, route = `/v1/models/${model}:predict`): RequestSpec {
  return { method: 'POST', path: route, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ instances: [row] }) };
}

export function inferSpec(model: string, row: number[] = BORDER_ROW): RequestSpec {
  return {
    method: 'POST',
    path: `/v2/models/${model}/infer`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, row.length], datatype: 'FP32', data: row }] }),
  };
}

/** Version and first-row probabilities from a :predict or v2 infer answer. */
export function answerOf(body: string): { version: number; probabilities: number[] } | null {
  try {
    const parsed = JSON.parse(body) as {
      model_version?: number | string;
      predictions?: Array<{ probabilities: Record<string, number> }>;
      outputs?: Array<{ name: string; data: number[] }>;
    };
    if (parsed.predictions)
      return { version: Number(parsed.model_version), probabilities: Object.values(parsed.predictions[0].probabilities) };
    const out = parsed.outputs?.find((o) => o.name === 'probabilities') ?? parsed.outputs?.[0];
    if (out) return { version: Number(parsed.model_version), probabilities: out.data };
  } catch {
    // not JSON
  }
  return null;
}

export interface Timed<T> {
  startedAt: number;
  endedAt: number;
  result?: T;
  error?: string;
}

/**
 * Runs `workers` loops that each send make(i) and hand the outcome to onResult, until stop() is
 * true, maxRequests were sent, or maxMs passed — whichever comes first. Returns how many were sent.
 */
export async function loadLoop(opts: {
  workers: number;
  maxRequests: number;
  maxMs: number;
  stop?: () => boolean;
  send: (i: number) => Promise<HttpAnswer>;
  onResult: (outcome: Timed<HttpAnswer>, i: number) => void;
  pauseMs?: number;
}): Promise<number> {
  let next = 0;
  const deadline = Date.now() + opts.maxMs;
  const worker = async () => {
    while (next < opts.maxRequests && Date.now() < deadline && !opts.stop?.()) {
      const i = next++;
      const startedAt = performance.now();
      try {
        const result = await opts.send(i);
        opts.onResult({ startedAt, endedAt: performance.now(), result }, i);
      } catch (err) {
        opts.onResult({ startedAt, endedAt: performance.now(), error: failureKind(err) }, i);
      }
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  };
  await Promise.all(Array.from({ length: opts.workers }, worker));
  return next;
}

export function countBy<T>(items: Iterable<T>, key: (item: T) => string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const item of items) {
    const k = key(item);
    counts[k] = (counts[k] ?? 0) + 1;
  }
  return counts;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
