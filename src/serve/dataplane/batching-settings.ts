import { DEFAULT_BATCHING, type BatchingOptions, type BatchingOverride } from '../config.ts';

/**
 * Batching settings per model: the server-wide defaults with each model's override on top.
 * Resolved objects are cached, so schedulers can read them at every decision; an override set at
 * run time (admin API) applies to the next decision of every loaded version of that model.
 */
export class BatchingSettings {
  private readonly resolved = new Map<string, BatchingOptions>();
  private readonly overrides: Map<string, BatchingOverride>;

  constructor(
    private readonly defaults: BatchingOptions = DEFAULT_BATCHING,
    overrides: Record<string, BatchingOverride> = {},
  ) {
    this.overrides = new Map(Object.entries(overrides));
  }

  get(model: string): BatchingOptions {
    let s = this.resolved.get(model);
    if (!s) {
      s = { ...this.defaults, ...this.overrides.get(model) };
      this.resolved.set(model, s);
    }
    return s;
  }

  override(model: string): BatchingOverride {
    return { ...this.overrides.get(model) };
  }

  /** Replaces a model's override (an empty object returns it to the defaults). */
  setOverride(model: string, override: BatchingOverride): BatchingOptions {
    if (Object.keys(override).length === 0) this.overrides.delete(model);
    else this.overrides.set(model, { ...override });
    this.resolved.delete(model);
    return this.get(model);
  }
}
