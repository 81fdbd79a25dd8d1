// The rows a run was trained from, as the dashboard's decision regions use them. Read only for
// callers who may see them (the route decides), and never in a way that can hang the server: a CSV
// must be a regular file under a size cap (opening a FIFO blocks a libuv thread until someone writes
// to it, and a few such reads stall every file read of the process), one read at a time server-wide
// (at most one thread could ever be held), once per run (concurrent requests share it), and a request
// waits a bounded time for it. What is kept is a small summary, for a few runs.
import path from 'node:path';
import { DataError } from '../../lib/data-error.ts';
import { checkRegularFile } from '../../lib/regular-file.ts';
import type { TrainConfig } from '../../lib/train-config-schema.ts';
import type { Dataset } from '../../train/dataset.ts';
import { type RunDataSummary, summarizeRunData } from './decision-regions.ts';

/** Largest CSV the dashboard reads (the trainer's own limit, BNSERVE_MAX_DATA_MB, is larger). */
export const DASHBOARD_MAX_DATA_BYTES = 64 * 2 ** 20;
const CACHED_RUNS = 4;
const WAIT_MS = 5000;

export type SignClasses = { negative: string; positive: string };

export interface RunRows extends RunDataSummary {
  inputShape: number[];
  signClasses?: SignClasses;
}

export type ReadRunRows = (config: unknown) => Promise<RunRows | null>;

type LoadDataset = (config: TrainConfig, options: { maxBytes: number }) => Promise<Dataset>;

// Imported when first needed: the train folder's loaders are tfjs-free, but serving need not load them.
const loadDataset: LoadDataset = async (config, options) => (await import('../../train/data.ts')).loadDataset(config, options);

/** The run's rows reloaded from its config as `bnserve report` does; null when they are not a readable, small regular file here. */
export async function readRunRows(config: unknown, options: { maxBytes?: number; load?: LoadDataset } = {}): Promise<RunRows | null> {
  const maxBytes = options.maxBytes ?? DASHBOARD_MAX_DATA_BYTES;
  const source = (config as { data?: { kind?: unknown; path?: unknown } } | null)?.data;
  if (source?.kind === 'csv') {
    if (typeof source.path !== 'string') return null;
    // The loader's own rule, checked first so that a file that fails it is never handed to the loader.
    try {
      await checkRegularFile(path.resolve(source.path), { maxBytes });
    } catch (error) {
      if (error instanceof DataError) return null;
      throw error;
    }
  } else if (source?.kind !== 'iris' && source?.kind !== 'synthetic') {
    return null;
  }
  const data = await (options.load ?? loadDataset)(config as TrainConfig, { maxBytes });
  if (data.inputShape.length !== 1) return null;
  return { ...summarizeRunData(data, data.inputShape[0]), inputShape: data.inputShape, signClasses: data.signClasses };
}

/**
 * A sign classifier's labels as its config's labelMap names them (−1 and +1; "*" is every other
 * label), for when its rows are not read.
 */
export function signClassesOfConfig(config: unknown): SignClasses | undefined {
  const labelMap = (config as { data?: { labelMap?: unknown } } | null)?.data?.labelMap;
  if (labelMap === null || typeof labelMap !== 'object') return undefined;
  const entries = Object.entries(labelMap);
  if (!entries.every(([, value]) => value === -1 || value === 1)) return undefined;
  const side = (sign: number) =>
    entries
      .filter(([, value]) => value === sign)
      .map(([label]) => (label === '*' ? 'others' : label))
      .join(' + ');
  const [negative, positive] = [side(-1), side(1)];
  return negative && positive ? { negative, positive } : undefined;
}

/** Each run's rows read at most once (bounded LRU of summaries), one read at a time. */
export class RunRowsCache {
  private readonly kept = new Map<string, RunRows | null>();
  private readonly reading = new Map<string, Promise<RunRows | null>>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly capacity: number;
  private readonly waitMs: number;

  constructor(
    private readonly read: ReadRunRows = readRunRows,
    options: { capacity?: number; waitMs?: number } = {},
  ) {
    this.capacity = options.capacity ?? CACHED_RUNS;
    this.waitMs = options.waitMs ?? WAIT_MS;
  }

  /** The run's rows; null when they cannot be read here, or not within waitMs (the read goes on, and is kept for later requests). */
  get(runId: string, config: unknown): Promise<RunRows | null> {
    if (this.kept.has(runId)) {
      const rows = this.kept.get(runId) ?? null;
      this.kept.delete(runId);
      this.kept.set(runId, rows);
      return Promise.resolve(rows);
    }
    let pending = this.reading.get(runId);
    if (!pending) {
      pending = this.oneAtATime(() => this.read(config))
        .catch(() => null)
        .then((rows) => {
          this.reading.delete(runId);
          this.keep(runId, rows);
          return rows;
        });
      this.reading.set(runId, pending);
    }
    return atMost(pending, this.waitMs);
  }

  private oneAtATime<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private keep(runId: string, rows: RunRows | null): void {
    this.kept.set(runId, rows);
    for (const oldest of this.kept.keys()) {
      if (this.kept.size <= this.capacity) break;
      this.kept.delete(oldest);
    }
  }
}

function atMost<T>(pending: Promise<T | null>, ms: number): Promise<T | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), ms);
    timer.unref();
    void pending.then((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}
