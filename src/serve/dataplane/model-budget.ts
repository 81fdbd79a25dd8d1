// The memory budget (BNSERVE_MAX_LOADED_VERSIONS, BNSERVE_MODEL_MEMORY_MB): which loaded version
// to unload when the server holds more than it may, the error a request gets when the load of its
// version does not finish in time, and the one-at-a-time slot budgeted loads take. No I/O here.
import { RETRY_AFTER_SECONDS } from './batcher.ts';
import { ModelUnavailableError } from './errors.ts';

export interface BudgetOptions {
  /** Loaded versions at most, all models together; 0: no limit. */
  maxVersions: number;
  /** Sum of the loaded versions' memory estimates, in bytes; 0: no limit. */
  memoryBytes: number;
  /** How long a request waits for the load of an unloaded version before its 503. */
  loadWaitMs: number;
}

export const budgetEnabled = (b: BudgetOptions) => b.maxVersions > 0 || b.memoryBytes > 0;

/**
 * The version a request asked for is not loaded and its load did not finish within
 * BNSERVE_MODEL_LOAD_WAIT_MS (or could not start): 503 with Retry-After. The load goes on (its
 * next request finds the version loaded).
 */
export class LoadWaitError extends ModelUnavailableError {
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;
  constructor(message: string) {
    super(message, 'not_loaded');
  }
}

/** What the budget knows of one loaded version. */
export interface BudgetEntry {
  key: string;
  /** Requests holding a lease (queued or running): such a version is never unloaded. */
  inflight: number;
  /** Larger: used more recently. */
  lastUsed: number;
  memoryBytes: number;
  /** The target of an explicitly set default alias: unloaded only when unpinned versions cannot make room. */
  pinned: boolean;
}

export type EvictionReason = 'max_versions' | 'memory';

/** Which limit the loaded versions break, counting `incoming` (a version about to load, with its estimate) as loaded. */
export function overBudget(
  budget: BudgetOptions,
  entries: readonly Pick<BudgetEntry, 'memoryBytes'>[],
  incoming?: { memoryBytes: number },
): EvictionReason | null {
  const count = entries.length + (incoming ? 1 : 0);
  if (budget.maxVersions > 0 && count > budget.maxVersions) return 'max_versions';
  if (budget.memoryBytes > 0) {
    const bytes = entries.reduce((sum, e) => sum + e.memoryBytes, incoming?.memoryBytes ?? 0);
    // A single version larger than the whole budget is still served, alone.
    if (bytes > budget.memoryBytes && count > 1) return 'memory';
  }
  return null;
}

/**
 * The versions to unload, in order, until the budget holds (with `incoming` counted): idle ones
 * only, unpinned before pinned, least recently used first. May leave the budget broken when every
 * candidate is busy: those are unloaded once they drain.
 */
export function chooseEvictions(
  budget: BudgetOptions,
  entries: readonly BudgetEntry[],
  incoming?: { memoryBytes: number },
): { key: string; reason: EvictionReason }[] {
  const kept = [...entries];
  const candidates = entries.filter((e) => e.inflight === 0).sort((a, b) => Number(a.pinned) - Number(b.pinned) || a.lastUsed - b.lastUsed);
  const chosen: { key: string; reason: EvictionReason }[] = [];
  for (const victim of candidates) {
    const reason = overBudget(budget, kept, incoming);
    if (reason === null) break;
    kept.splice(kept.indexOf(victim), 1);
    chosen.push({ key: victim.key, reason });
  }
  return chosen;
}

/** A FIFO semaphore of one: budgeted loads run one at a time, so room is made before each. */
export class LoadSlot {
  private tail: Promise<void> = Promise.resolve();

  /** Runs fn once every earlier holder is done. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.then(
      () => {},
      () => {},
    );
    return run;
  }
}
