// `bnserve tune`'s measurement loop: starts the tuning server, reads the model's current settings,
// plans the sweep within the budget, and measures each planned setting at each concurrency
// (warm-up, then a window; rows per run from the server's statistics around the window).
import { scanMetadata } from '../export/onnx/metadata-scan.ts';
import { readWarmup, type WarmupSample } from '../export/onnx/warmup.ts';
import type { BatchingOverride } from '../lib/batching.ts';
import type { ModelVersionRecord, Registry } from '../registry/types.ts';
import { chooseBest, type Measurement, type SettingResult } from './choose.ts';
import { runLoad } from './load.ts';
import {
  candidates,
  type Candidate,
  DEFAULT_GRID,
  planSweep,
  settingCost,
  settingLabel,
  type SweepGrid,
  type SweepTiming,
  type TunedSetting,
} from './plan.ts';
import { tuneRequest, type TuneRequest } from './request-body.ts';
import { TuneServerError, TuningServer } from './tuning-server.ts';

export interface SweepOptions {
  registry: Registry;
  record: ModelVersionRecord;
  concurrencies: number[];
  p99TargetMs: number | null;
  /** Bounds the whole run, start-up included, seconds. */
  budgetS: number;
  rowsPerRequest: number;
  timing: Omit<SweepTiming, 'concurrencies'>;
  grid?: SweepGrid;
  /** Environment the server reads its defaults from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** One line per finished measurement (progress for a terminal). */
  onProgress?: (line: string) => void;
}

export interface SweepReport {
  model: string;
  version: number;
  rowsPerRequest: number;
  rowSource: TuneRequest['rowSource'];
  concurrencies: number[];
  p99TargetMs: number | null;
  budgetS: number;
  elapsedS: number;
  /** The model's settings when the sweep started (environment and stored overrides included). */
  current: TunedSetting;
  /** Measured settings, in the order they ran. */
  results: SettingResult[];
  /** Not measured: left out by the plan, or not started because the budget ran out. */
  skipped: Candidate[];
  best: number | null;
  disqualified: (string | null)[];
  /** Why the sweep stopped before its plan was done (the server stopped answering); null when it did not. */
  stoppedBy: string | null;
}

/** The knobs a setting stores as an override. */
export function overrideOf(s: TunedSetting): BatchingOverride {
  return {
    enabled: s.enabled,
    maxBatchSize: s.maxBatchSize,
    maxQueueDelayMicroseconds: s.maxQueueDelayMicroseconds,
    preferredBatchSizes: [...s.preferredBatchSizes],
    instanceCount: s.instanceCount,
  };
}

function warmupSample(artifact: Uint8Array): WarmupSample | null {
  try {
    return readWarmup(scanMetadata(artifact));
  } catch {
    return null; // an unreadable sample is the server's problem to report; random rows will do here
  }
}

export async function runSweep(opts: SweepOptions): Promise<SweepReport> {
  const started = performance.now();
  const elapsedS = () => (performance.now() - started) / 1000;
  const timing: SweepTiming = { ...opts.timing, concurrencies: opts.concurrencies };
  const sample = warmupSample(await opts.registry.readArtifact(opts.record));
  const request = tuneRequest(opts.record.inputs, opts.rowsPerRequest, sample);
  const body = JSON.stringify(request.body);
  const server = await TuningServer.start(opts.registry, opts.record, body, opts.env ?? process.env);
  server.setDeadline(started + opts.budgetS * 1000);
  try {
    const effective = await server.effectiveBatching();
    const current: TunedSetting = {
      enabled: effective.enabled,
      maxBatchSize: effective.maxBatchSize,
      maxQueueDelayMicroseconds: effective.maxQueueDelayMicroseconds,
      preferredBatchSizes: effective.preferredBatchSizes,
      instanceCount: effective.instanceCount,
    };
    const plan = planSweep(candidates(current, opts.grid ?? DEFAULT_GRID), timing, opts.budgetS - elapsedS(), current.instanceCount);
    const results: SettingResult[] = [];
    const skipped = [...plan.skipped];
    let loadedInstances = current.instanceCount;
    let stoppedBy: string | null = null;
    for (const [index, candidate] of plan.measured.entries()) {
      const reload = candidate.instanceCount === loadedInstances ? 0 : timing.reloadS;
      // The plan's estimates may be off on a busy machine: the budget is checked against the clock too.
      if (elapsedS() + reload + settingCost(timing) > opts.budgetS) {
        skipped.push(candidate);
        continue;
      }
      let measurements: Measurement[];
      try {
        // The rest of the model's settings (queue size, queue timeout) stay as they were.
        await server.setBatching({ ...effective, ...overrideOf(candidate) });
        loadedInstances = candidate.instanceCount;
        measurements = await measure(server, body, candidate, timing, opts.onProgress);
      } catch (err) {
        if (!(err instanceof TuneServerError)) throw err;
        // A server that stopped answering cannot be trusted for the rest: report what was measured.
        stoppedBy = `${settingLabel(candidate)}: ${err.message}`;
        skipped.push(...plan.measured.slice(index));
        break;
      }
      results.push({ candidate, measurements });
    }
    const choice = chooseBest(results, opts.concurrencies, opts.p99TargetMs);
    return {
      model: opts.record.name,
      version: opts.record.version,
      rowsPerRequest: opts.rowsPerRequest,
      rowSource: request.rowSource,
      concurrencies: opts.concurrencies,
      p99TargetMs: opts.p99TargetMs,
      budgetS: opts.budgetS,
      elapsedS: elapsedS(),
      current,
      results,
      skipped,
      best: choice.best,
      disqualified: choice.disqualified,
      stoppedBy,
    };
  } finally {
    await closeWithin(server, CLOSE_TIMEOUT_MS);
  }
}

/** Warm-up, then the measured window, at each concurrency. */
async function measure(
  server: TuningServer,
  body: string,
  candidate: Candidate,
  timing: SweepTiming,
  onProgress: SweepOptions['onProgress'],
): Promise<Measurement[]> {
  const measurements: Measurement[] = [];
  for (const concurrency of timing.concurrencies) {
    await runLoad({ url: server.inferUrl, body, connections: concurrency, seconds: timing.warmupS });
    const before = await server.counts();
    const load = await runLoad({ url: server.inferUrl, body, connections: concurrency, seconds: timing.windowS });
    const after = await server.counts();
    const runs = after.runs - before.runs;
    const m: Measurement = { concurrency, ...load, rowsPerRun: runs > 0 ? (after.rows - before.rows) / runs : null };
    measurements.push(m);
    onProgress?.(
      `${settingLabel(candidate)}  c=${concurrency}: ${m.requestsPerSecond.toFixed(0)} req/s, p99 ${m.p99Ms} ms` +
        (m.failed > 0 ? `, ${m.failed} failed` : ''),
    );
  }
  return measurements;
}

/** After a server stopped answering, its close may wait on the stuck work: the sweep's result does not. */
const CLOSE_TIMEOUT_MS = 10_000;

async function closeWithin(server: TuningServer, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    server.close(),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}
