import { DEFAULT_BATCHING, type BatchingOptions, type BatchingOverride } from '../config.ts';
import type { Registry } from '../../registry/types.ts';
import type { PollerLog } from './registry-poller.ts';

/**
 * Batching settings per model: the server-wide defaults with each model's override on top.
 * Overrides come from three places, highest first:
 * 1. the admin API (setOverride): while set, it is the model's whole override, as it always was;
 * 2. the registry (applyStored, `bnserve tune --apply`), read on every registry poll;
 * 3. BNSERVE_MODEL_BATCHING (the constructor).
 * 2 and 3 merge knob by knob, the stored value winning: a tuned override keeps the operator's other
 * knobs (a queue limit, say). Resolved objects are cached, so schedulers can read them at every
 * decision; a change applies to the next decision of every loaded version of that model
 * (instanceCount: to versions loaded after it).
 */
export class BatchingSettings {
  private readonly resolved = new Map<string, BatchingOptions>();
  private readonly fromEnvironment: Map<string, BatchingOverride>;
  private stored = new Map<string, BatchingOverride>();
  private readonly runtime = new Map<string, BatchingOverride>();

  constructor(
    private readonly defaults: BatchingOptions = DEFAULT_BATCHING,
    overrides: Record<string, BatchingOverride> = {},
  ) {
    this.fromEnvironment = new Map(Object.entries(overrides));
  }

  get(model: string): BatchingOptions {
    let s = this.resolved.get(model);
    if (!s) {
      s = { ...this.defaults, ...this.override(model) };
      this.resolved.set(model, s);
    }
    return s;
  }

  /** The override in force: the admin's while set, else the stored one over BNSERVE_MODEL_BATCHING's. */
  override(model: string): BatchingOverride {
    const runtime = this.runtime.get(model);
    if (runtime) return { ...runtime };
    return { ...this.fromEnvironment.get(model), ...this.stored.get(model) };
  }

  /** Replaces a model's override until restart (an empty object returns it to the server-wide defaults). */
  setOverride(model: string, override: BatchingOverride): BatchingOptions {
    this.runtime.set(model, { ...override });
    this.resolved.delete(model);
    return this.get(model);
  }

  /**
   * Replaces every stored override with `stored` (a model missing from it has none any more).
   * Returns the models whose stored override changed.
   */
  applyStored(stored: ReadonlyMap<string, BatchingOverride>): string[] {
    const changed = [...new Set([...this.stored.keys(), ...stored.keys()])].filter(
      (model) => !sameOverride(this.stored.get(model), stored.get(model)),
    );
    this.stored = new Map([...stored].map(([model, override]) => [model, { ...override }]));
    for (const model of changed) this.resolved.delete(model);
    return changed.sort();
  }
}

function sameOverride(a: BatchingOverride | undefined, b: BatchingOverride | undefined): boolean {
  const canonical = (o: BatchingOverride = {}) => JSON.stringify(o, Object.keys(o).sort());
  return canonical(a) === canonical(b);
}

/**
 * Reads the registry's stored per-model settings into `batching`; called before the models are read
 * at start and on every registry poll. Never rejects: a registry that cannot be read keeps what was
 * applied (logged once per failure streak); an unusable stored value is skipped and logged once.
 */
export function storedBatchingSync(registry: Registry, batching: BatchingSettings, log: PollerLog): () => Promise<void> {
  let failing = false;
  const reported = new Map<string, string>();
  return async () => {
    if (!registry.listModelSettings) return;
    let rows: Awaited<ReturnType<NonNullable<Registry['listModelSettings']>>>;
    try {
      rows = await registry.listModelSettings();
    } catch (err) {
      if (!failing) log.warn({ err }, 'could not read the stored batching settings; keeping those applied');
      failing = true;
      return;
    }
    failing = false;
    const usable = new Map<string, BatchingOverride>();
    for (const row of rows) {
      if (row.problem === null) {
        usable.set(row.name, row.batching);
        reported.delete(row.name);
      } else if (reported.get(row.name) !== row.problem) {
        reported.set(row.name, row.problem);
        log.warn({ model: row.name, problem: row.problem }, 'ignoring the stored batching settings of a model');
      }
    }
    for (const model of batching.applyStored(usable)) {
      log.info({ model, stored: usable.get(model) ?? null, effective: batching.get(model) }, 'stored batching settings applied');
    }
  };
}
