// What the dashboard shows of registry records: plain functions, no HTTP, no tfjs.
import { BN_GUARD_DEFAULTS, BN_LAYER_DEFAULTS, type BnGuardLimits, type BnVerdict, bnResidual } from '../../lib/bn.ts';
import type { EpochMetricInput, RunSummary, TrainingRunRecord } from '../../registry/types.ts';

/** The trainer's divergence errors all start this way (src/train/divergence.ts). */
const DIVERGED = /^training diverged\b/;

export interface BnLayerResidual {
  index: number;
  momentum: number;
  /** momentum^steps: the share of the initial 0/1 still in the moving statistics. */
  residual: number | null;
}

export function isDiverged(run: Pick<TrainingRunRecord, 'status' | 'error'>): boolean {
  return run.status === 'failed' && DIVERGED.test(run.error ?? '');
}

/** The BN layers of a stored (resolved) config, in order, with their momentum. */
export function bnLayersOf(config: unknown): { index: number; momentum: number }[] {
  const layers = (config as { layers?: unknown } | null)?.layers;
  if (!Array.isArray(layers)) return [];
  return layers
    .map((layer, index) => ({ layer: layer as { type?: unknown; momentum?: unknown }, index }))
    .filter(({ layer }) => layer?.type === 'batchNormalization')
    .map(({ layer, index }) => ({ index, momentum: typeof layer.momentum === 'number' ? layer.momentum : BN_LAYER_DEFAULTS.momentum }));
}

export function bnResiduals(config: unknown, steps: number | null): BnLayerResidual[] {
  return bnLayersOf(config).map(({ index, momentum }) => ({
    index,
    momentum,
    residual: steps === null ? null : bnResidual(momentum, steps),
  }));
}

/** The guard's limits a stored (resolved) config was trained with; the defaults for any it lacks. */
export function bnGuardLimitsOf(config: unknown): BnGuardLimits {
  const given = (config as { bnGuard?: Partial<Record<keyof BnGuardLimits, unknown>> } | null)?.bnGuard ?? {};
  const limit = (key: keyof BnGuardLimits) => {
    const value = given[key];
    return typeof value === 'number' ? value : BN_GUARD_DEFAULTS[key];
  };
  return { maxResidual: limit('maxResidual'), maxMeanGap: limit('maxMeanGap'), maxVarianceRatio: limit('maxVarianceRatio') };
}

/**
 * The BN guard's verdict on a run: its registered version's finding when it has one (the guard's
 * full check, stored at export); else, for a run without a version (--no-export, diverged), only
 * what the registry can tell: the step count against the momentum ("flagged" when too few steps,
 * "unchecked" otherwise, since the statistics themselves were not compared).
 */
export function bnVerdict(
  run: Pick<TrainingRunRecord, 'config' | 'bnSteps'>,
  versions: readonly { bnGuardWarning: string | null }[],
): { verdict: BnVerdict; detail: string | null } {
  const layers = bnResiduals(run.config, run.bnSteps);
  if (layers.length === 0) return { verdict: 'no-bn', detail: null };
  const warning = versions.find((v) => v.bnGuardWarning !== null)?.bnGuardWarning;
  if (warning) return { verdict: 'flagged', detail: warning };
  if (versions.length > 0) return { verdict: 'ok', detail: null };
  const limit = bnGuardLimitsOf(run.config).maxResidual;
  const stale = layers.filter((l) => l.residual !== null && l.residual > limit);
  if (stale.length > 0) {
    return {
      verdict: 'flagged',
      detail: `after ${run.bnSteps} update steps, up to ${(Math.max(...stale.map((l) => l.residual ?? 0)) * 100).toFixed(1)}% of the initial moving statistics remain (limit ${limit * 100}%)`,
    };
  }
  return { verdict: 'unchecked', detail: 'no registered version: the moving statistics were not compared with the data' };
}

/** An epoch's values as one flat record: loss, dataLoss, regularizationLoss and every further metric; null for non-finite. */
export function flatEpoch(epoch: EpochMetricInput): Record<string, number | null> {
  const out: Record<string, number | null> = {
    epoch: epoch.epoch,
    loss: finite(epoch.loss),
    dataLoss: finite(epoch.dataLoss),
    regularizationLoss: finite(epoch.regularizationLoss),
  };
  for (const [key, value] of Object.entries(epoch.metrics)) out[key] = finite(value);
  return out;
}

const finite = (value: number) => (Number.isFinite(value) ? value : null);

export function durationSeconds(run: Pick<TrainingRunRecord, 'startedAt' | 'finishedAt'>): number | null {
  return run.finishedAt ? (run.finishedAt.getTime() - run.startedAt.getTime()) / 1000 : null;
}

export function runSummaryView(run: RunSummary) {
  return {
    id: run.id,
    name: run.name,
    status: run.status,
    diverged: isDiverged(run),
    backend: run.backend,
    seed: run.seed,
    epochs: run.epochCount,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt?.toISOString() ?? null,
    durationSeconds: durationSeconds(run),
    error: run.error,
    finalMetrics: run.lastEpoch ? flatEpoch(run.lastEpoch) : null,
    bnGuard: bnVerdict(run, run.versions),
    versions: run.versions.map((v) => ({ name: v.name, version: v.version })),
  };
}
