// What `bnserve tune` measures: the candidate settings (a small grid, equivalent combinations
// removed, ordered coarse to fine) and which of them fit the time budget. Pure: no clock, no I/O.

/** The knobs the sweep varies (the rest of the model's batching settings stay as they are). */
export interface TunedSetting {
  enabled: boolean;
  maxBatchSize: number;
  maxQueueDelayMicroseconds: number;
  preferredBatchSizes: number[];
  instanceCount: number;
}

export interface Candidate extends TunedSetting {
  /** "current": what the model runs with now (measured first, for comparison); "grid": from the sweep grid. */
  source: 'current' | 'grid';
}

export interface SweepGrid {
  maxBatchSizes: number[];
  queueDelaysMicroseconds: number[];
  /** "none", or "half": one preferred size at half the max batch size (dispatch as soon as that many rows wait). */
  preferred: ('none' | 'half')[];
  instanceCounts: number[];
}

export const DEFAULT_GRID: Readonly<SweepGrid> = Object.freeze<SweepGrid>({
  maxBatchSizes: [1, 8, 32, 64],
  queueDelaysMicroseconds: [0, 100, 500, 2000],
  preferred: ['none', 'half'],
  instanceCounts: [1, 2],
});

/** The grid setting the sweep starts from: every other grid setting is ranked by how many knobs differ from it. */
export const REFERENCE: Readonly<TunedSetting> = Object.freeze({
  enabled: true,
  maxBatchSize: 32,
  maxQueueDelayMicroseconds: 100,
  preferredBatchSizes: [],
  instanceCount: 1,
});

/**
 * The setting in its simplest equivalent form, by the scheduler's rules (src/serve/dataplane/batcher.ts):
 * with batching off or a max batch of 1 nothing is ever merged, so the delay and preferred sizes do
 * nothing; with no delay nothing waits, so preferred sizes do nothing; a preferred size at or above
 * the max batch size is reached only by a full batch, which is dispatched anyway.
 */
export function normalize<T extends TunedSetting>(s: T): T {
  if (!s.enabled || s.maxBatchSize === 1) return { ...s, maxQueueDelayMicroseconds: 0, preferredBatchSizes: [] };
  const preferred = s.maxQueueDelayMicroseconds === 0 ? [] : s.preferredBatchSizes.filter((p) => p < s.maxBatchSize);
  return { ...s, preferredBatchSizes: [...new Set(preferred)].sort((a, b) => a - b) };
}

/** A setting in one short line: "batch 32, delay 100 µs, preferred 16, 1 instance". */
export function settingLabel(s: TunedSetting): string {
  if (!s.enabled) return `batching off, ${s.instanceCount} instance${s.instanceCount === 1 ? '' : 's'}`;
  const preferred = s.preferredBatchSizes.length > 0 ? `, preferred ${s.preferredBatchSizes.join('+')}` : '';
  return `batch ${s.maxBatchSize}, delay ${s.maxQueueDelayMicroseconds} µs${preferred}, ${s.instanceCount} instance${s.instanceCount === 1 ? '' : 's'}`;
}

export function settingKey(s: TunedSetting): string {
  const n = normalize(s);
  return [n.enabled ? 'on' : 'off', n.maxBatchSize, n.maxQueueDelayMicroseconds, n.preferredBatchSizes.join('+'), n.instanceCount].join(
    '/',
  );
}

/** How many knobs differ; the delay and preferred sizes count only where both settings merge requests. */
function knobsDifferent(a: TunedSetting, b: TunedSetting): number {
  const [x, y] = [normalize(a), normalize(b)];
  const merges = (s: TunedSetting) => s.enabled && s.maxBatchSize > 1;
  if (!merges(x) || !merges(y)) {
    return Number(x.enabled !== y.enabled || x.maxBatchSize !== y.maxBatchSize) + Number(x.instanceCount !== y.instanceCount);
  }
  return (
    Number(x.maxBatchSize !== y.maxBatchSize) +
    Number(x.maxQueueDelayMicroseconds !== y.maxQueueDelayMicroseconds) +
    Number(x.preferredBatchSizes.join('+') !== y.preferredBatchSizes.join('+')) +
    Number(x.instanceCount !== y.instanceCount)
  );
}

/**
 * The grid's settings, normalized and deduplicated, the model's current setting first, then the
 * reference, then one knob changed at a time, then two, ...: a budget that cuts the list short
 * still varies every knob once.
 */
export function candidates(current: TunedSetting, grid: SweepGrid = DEFAULT_GRID): Candidate[] {
  const all: Candidate[] = [];
  for (const maxBatchSize of grid.maxBatchSizes)
    for (const maxQueueDelayMicroseconds of grid.queueDelaysMicroseconds)
      for (const preferred of grid.preferred)
        for (const instanceCount of grid.instanceCounts) {
          const half = Math.floor(maxBatchSize / 2);
          const preferredBatchSizes = preferred === 'half' && half >= 1 ? [half] : [];
          all.push({
            source: 'grid',
            ...normalize({ enabled: true, maxBatchSize, maxQueueDelayMicroseconds, preferredBatchSizes, instanceCount }),
          });
        }
  const ranked = all
    .map((c, index) => ({ c, index, distance: knobsDifferent(c, REFERENCE) }))
    .sort((a, b) => a.distance - b.distance || a.index - b.index)
    .map(({ c }) => c);
  const seen = new Set<string>();
  return [{ source: 'current' as const, ...normalize(current) }, ...ranked].filter((c) => {
    const key = settingKey(c);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

export interface SweepTiming {
  /** Load before each measured window (not recorded), seconds. */
  warmupS: number;
  /** Measured window per setting and concurrency, seconds. */
  windowS: number;
  concurrencies: number[];
  /** Per concurrency: starting the load generator twice, reading the statistics, applying the setting, seconds (estimate). */
  settleS: number;
  /** Reloading the model for another instance count, seconds (estimate). */
  reloadS: number;
}

export const DEFAULT_TIMING: Readonly<Omit<SweepTiming, 'concurrencies'>> = Object.freeze({
  warmupS: 1,
  windowS: 2,
  settleS: 1,
  reloadS: 3,
});

/** Seconds one setting takes to measure at every concurrency (its reload, if any, not included). */
export function settingCost(t: SweepTiming): number {
  return t.concurrencies.length * (t.warmupS + t.windowS + t.settleS);
}

export interface SweepPlan {
  /** In the order they run: grouped by instance count (the loaded one first) so the model reloads least. */
  measured: Candidate[];
  /** Left out because the budget would not fit them, in rank order. */
  skipped: Candidate[];
  /** The plan's own estimate of its length, seconds. */
  estimatedS: number;
}

/**
 * Takes candidates in rank order while the estimate stays within budgetS (a setting at an instance
 * count not yet in the plan also pays one reload), then orders them for running.
 * `loadedInstances`: the instance count the model is loaded with when the sweep starts.
 */
export function planSweep(ranked: readonly Candidate[], timing: SweepTiming, budgetS: number, loadedInstances: number): SweepPlan {
  const cost = settingCost(timing);
  const chosen: { c: Candidate; rank: number }[] = [];
  const skipped: Candidate[] = [];
  const instanceCounts = new Set<number>([loadedInstances]);
  let estimatedS = 0;
  ranked.forEach((c, rank) => {
    const extra = cost + (instanceCounts.has(c.instanceCount) ? 0 : timing.reloadS);
    if (estimatedS + extra > budgetS) {
      skipped.push(c);
      return;
    }
    estimatedS += extra;
    instanceCounts.add(c.instanceCount);
    chosen.push({ c, rank });
  });
  const group = (n: number) => (n === loadedInstances ? -1 : n);
  chosen.sort((a, b) => group(a.c.instanceCount) - group(b.c.instanceCount) || a.rank - b.rank);
  return { measured: chosen.map(({ c }) => c), skipped, estimatedS };
}
