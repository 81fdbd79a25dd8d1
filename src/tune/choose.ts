// Which measured setting `bnserve tune` recommends. Pure: measurements in, a verdict out.
import type { Candidate } from './plan.ts';

/** One autocannon window: one setting at one concurrency. */
export interface Measurement {
  concurrency: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Rows per onnxruntime run in the window (the server's statistics, before and after); null when nothing ran. */
  rowsPerRun: number | null;
  requests: number;
  /** Non-2xx answers, connection errors and timeouts. */
  failed: number;
}

export interface SettingResult {
  candidate: Candidate;
  /** One per concurrency, in the order the concurrencies were given. */
  measurements: Measurement[];
}

export interface Choice {
  /** Index into the results; null when no setting qualified. */
  best: number | null;
  /** Why each setting did not qualify (same order as the results); null for those that did. */
  disqualified: (string | null)[];
}

/** Why a setting cannot be recommended, or null when it can. */
export function disqualification(result: SettingResult, concurrencies: readonly number[], p99TargetMs: number | null): string | null {
  for (const c of concurrencies) {
    const m = result.measurements.find((x) => x.concurrency === c);
    if (!m) return `not measured at concurrency ${c}`;
    if (m.requests === 0) return `no request answered at concurrency ${c}`;
    if (m.failed > 0) return `${m.failed} failed request(s) at concurrency ${c}`;
    if (p99TargetMs !== null && m.p99Ms > p99TargetMs) return `p99 ${m.p99Ms} ms > ${p99TargetMs} ms at concurrency ${c}`;
  }
  return null;
}

/**
 * The best setting: among those measured at every concurrency without a failed request and, with a
 * target, with p99 ≤ target at every concurrency, the highest req/s at the highest concurrency;
 * ties go to the lower p99 there, then to the earlier setting (the current one comes first).
 */
export function chooseBest(results: readonly SettingResult[], concurrencies: readonly number[], p99TargetMs: number | null): Choice {
  const disqualified = results.map((r) => disqualification(r, concurrencies, p99TargetMs));
  const top = Math.max(...concurrencies);
  const at = (r: SettingResult) => r.measurements.find((m) => m.concurrency === top)!;
  let best: number | null = null;
  results.forEach((r, i) => {
    if (disqualified[i] !== null) return;
    if (best === null) {
      best = i;
      return;
    }
    const [challenger, holder] = [at(r), at(results[best])];
    if (
      challenger.requestsPerSecond > holder.requestsPerSecond ||
      (challenger.requestsPerSecond === holder.requestsPerSecond && challenger.p99Ms < holder.p99Ms)
    ) {
      best = i;
    }
  });
  return { best, disqualified };
}
