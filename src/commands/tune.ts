// `bnserve tune NAME[:VERSION|@ALIAS] [--p99-ms N] [--concurrency LIST] [--budget-s N] [--apply]`:
// sweeps dynamic batching settings on the real serving path (src/tune), prints the table and the
// best setting, and with --apply stores it as the model's batching override in the registry.
import { ConfigError } from '../lib/errors.ts';
import type { BatchingOverride } from '../lib/batching.ts';
import { RegistryError, type Registry } from '../registry/types.ts';
import type { ModelRef } from '../predict/model-ref.ts';
import type { SweepReport } from '../tune/sweep.ts';

/** Exit code when no measured setting met the target (nothing applied). */
export const NO_SETTING_EXIT_CODE = 6;

export const TUNE_DEFAULTS = Object.freeze({ concurrency: '1,8,32', budgetS: 120, windowS: 2, warmupS: 1, rows: 1 });
/** Start-up (server, model load, first reads) the budget must leave room for, seconds. */
const STARTUP_ALLOWANCE_S = 5;

export interface TuneCommandOptions {
  p99Ms?: number;
  concurrency?: string;
  budgetS?: number;
  windowS?: number;
  warmupS?: number;
  rows?: number;
  apply?: boolean;
}

export interface TunePlan {
  ref: ModelRef;
  concurrencies: number[];
  p99TargetMs: number | null;
  budgetS: number;
  windowS: number;
  warmupS: number;
  rows: number;
  apply: boolean;
}

/** "1,8,32" → [1, 8, 32]: positive integers up to 1024, each once, ascending. */
export function parseConcurrencies(text: string): number[] {
  const parts = text.split(',').map((p) => p.trim());
  const values = parts.map(Number);
  if (parts.some((p) => !/^\d+$/.test(p)) || values.some((v) => v < 1 || v > 1024)) {
    throw new ConfigError(`--concurrency ${JSON.stringify(text)}: expected a comma-separated list of integers from 1 to 1024, e.g. 1,8,32`);
  }
  return [...new Set(values)].sort((a, b) => a - b);
}

/** Checks the arguments (ConfigError: exit 2) before the registry is opened. */
export async function prepareTune(model: string, options: TuneCommandOptions): Promise<TunePlan> {
  const { parseModelRef } = await import('../predict/model-ref.ts');
  const { DEFAULT_TIMING, settingCost } = await import('../tune/plan.ts');
  const plan: TunePlan = {
    ref: parseModelRef(model),
    concurrencies: parseConcurrencies(options.concurrency ?? TUNE_DEFAULTS.concurrency),
    p99TargetMs: options.p99Ms ?? null,
    budgetS: options.budgetS ?? TUNE_DEFAULTS.budgetS,
    windowS: options.windowS ?? TUNE_DEFAULTS.windowS,
    warmupS: options.warmupS ?? TUNE_DEFAULTS.warmupS,
    rows: options.rows ?? TUNE_DEFAULTS.rows,
    apply: options.apply === true,
  };
  const oneSetting = settingCost({ ...DEFAULT_TIMING, warmupS: plan.warmupS, windowS: plan.windowS, concurrencies: plan.concurrencies });
  if (plan.budgetS < STARTUP_ALLOWANCE_S + oneSetting) {
    throw new ConfigError(
      `--budget-s ${plan.budgetS}: one setting at ${plan.concurrencies.length} concurrenc${plan.concurrencies.length === 1 ? 'y' : 'ies'} ` +
        `takes about ${oneSetting.toFixed(1)} s plus ${STARTUP_ALLOWANCE_S} s to start; give at least ${Math.ceil(STARTUP_ALLOWANCE_S + oneSetting)} s`,
    );
  }
  return plan;
}

export interface TuneResult {
  report: SweepReport;
  /** The override --apply stored; null without --apply or without a best setting. */
  applied: BatchingOverride | null;
}

/** Resolves the version, sweeps, and stores the best setting when asked to (and when there is one). */
export async function runTune(
  registry: Registry,
  plan: TunePlan,
  onProgress?: (line: string) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TuneResult> {
  const { resolveModelRef } = await import('../predict/model-ref.ts');
  const { serveConfigFromEnv } = await import('../serve/config.ts');
  const { DEFAULT_TIMING } = await import('../tune/plan.ts');
  const { overrideOf, runSweep } = await import('../tune/sweep.ts');
  const record = await resolveModelRef(registry, plan.ref, serveConfigFromEnv(env).defaultAlias);
  if (plan.apply && !registry.setModelBatching) {
    throw new RegistryError('refused', 'this registry cannot store per-model settings, so --apply cannot work; run without --apply');
  }
  const report = await runSweep({
    registry,
    record,
    concurrencies: plan.concurrencies,
    p99TargetMs: plan.p99TargetMs,
    budgetS: plan.budgetS,
    rowsPerRequest: plan.rows,
    timing: { ...DEFAULT_TIMING, warmupS: plan.warmupS, windowS: plan.windowS },
    env,
    onProgress,
  });
  let applied: BatchingOverride | null = null;
  if (plan.apply && report.best !== null) {
    const stored = await registry.setModelBatching!(record.name, overrideOf(report.results[report.best].candidate));
    applied = stored?.batching ?? null;
  }
  return { report, applied };
}

/** The JSON form: the report, each setting's verdict beside it, and what was applied. */
export function tuneJson(result: TuneResult): unknown {
  const { report } = result;
  return {
    model: report.model,
    version: report.version,
    rowsPerRequest: report.rowsPerRequest,
    rowSource: report.rowSource,
    concurrencies: report.concurrencies,
    p99TargetMs: report.p99TargetMs,
    budgetS: report.budgetS,
    elapsedS: report.elapsedS,
    current: report.current,
    results: report.results.map((r, i) => ({ ...r, verdict: report.disqualified[i] ?? 'ok' })),
    skipped: report.skipped,
    stoppedBy: report.stoppedBy,
    best: report.best === null ? null : { index: report.best, ...report.results[report.best] },
    applied: result.applied,
  };
}

export async function describeTune(result: TuneResult): Promise<string> {
  const { formatSweep } = await import('../tune/table.ts');
  const lines = [formatSweep(result.report)];
  const { report } = result;
  if (result.applied) {
    lines.push(
      `stored as the batching override of ${report.model} in the registry: ${JSON.stringify(result.applied)}; ` +
        'running servers apply it on their next registry poll (instanceCount: when a version is next loaded)',
    );
  } else if (report.best !== null) {
    lines.push(
      `nothing stored: run again with --apply to store it (or PUT it to /admin/models/${report.model}/batching on a running server)`,
    );
  } else {
    lines.push('nothing stored');
  }
  return lines.join('\n');
}
