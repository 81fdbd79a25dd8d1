// The admin actions on served models (Triton's repository load/unload, plus promote). They change
// what is served through the manager's own operations, each under the model's lock.
import { BnserveError } from '../../lib/errors.ts';
import type { ModelSummary, Registry } from '../../registry/types.ts';
import { notFound } from './errors.ts';
import type { LoadedVersion } from './loaded-version.ts';
import type { PollerLog } from './registry-poller.ts';
import type { ServedModel } from './serving-table.ts';

/** What the admin actions need from the model manager (given as closures, so they stay private there). */
export interface ModelStore {
  registry: Registry;
  log: PollerLog;
  /** The model, re-reading the registry once when it is not known yet; not_found otherwise. */
  knownModel(name: string): Promise<ServedModel>;
  /** The model's state, created empty when new. */
  model(name: string): ServedModel;
  /** Loads and warms a version; null (failure recorded) when it does not load. */
  tryLoad(model: ServedModel, version: number, force: boolean): Promise<LoadedVersion | null>;
  /** Brings a model in line with its registry summary. */
  sync(model: ServedModel, summary: ModelSummary, force: boolean): Promise<void>;
  /** Serves these versions (by the model's aliases); versions no longer served are retired. */
  install(model: ServedModel, versions: ReadonlyMap<number, LoadedVersion>): void;
  /** Serves nothing. */
  clear(model: ServedModel): void;
  /** Marks an alias write by this process (a registry read older than it is not applied). */
  noteAliasWrite(model: ServedModel): void;
}

export class ModelAdmin {
  constructor(private readonly store: ModelStore) {}

  /**
   * Moves an alias: loads and warms the version first, then updates the registry, then swaps.
   * If the version does not load, neither the registry nor the server changes.
   */
  async promote(
    name: string,
    version: number,
    alias: string,
    options: { force?: boolean } = {},
  ): Promise<{ previous: number | null; version: LoadedVersion }> {
    const { registry } = this.store;
    // Refuse before loading anything: the registry write would fail anyway.
    await registry.checkDatabase();
    const model = await this.store.knownModel(name);
    return model.locked(async () => {
      let loaded = model.table.versions.get(version);
      const loadedHere = !loaded;
      if (!loaded) {
        const record = await registry.getVersion(name, version);
        if (!record) throw notFound(`model "${name}" has no version ${version}`);
        loaded = (await this.store.tryLoad(model, version, true)) ?? undefined;
        if (!loaded) {
          throw new BnserveError(
            'model_load_failed',
            `model "${name}" version ${version} failed to load, alias "${alias}" was not moved: ${model.failures.get(version)?.message ?? 'unknown error'}`,
          );
        }
      }
      const previous = model.table.aliases.get(alias) ?? null;
      // Held while the registry is written, so that the memory budget cannot unload it meanwhile.
      const hold = loaded.acquire();
      try {
        await registry.promote(name, version, alias, options);
      } catch (err) {
        if (loadedHere) void loaded.retire();
        throw err;
      } finally {
        hold();
      }
      this.store.noteAliasWrite(model);
      model.registryAliases = { ...model.registryAliases, [alias]: version };
      model.unloaded = false;
      this.store.install(model, new Map([...model.table.versions, [version, loaded]]));
      this.store.log.info({ model: name, version, alias, previous }, 'alias moved');
      return { previous, version: loaded };
    });
  }

  /** Admin load: clears "unloaded" and remembered failures, then loads what the registry says. */
  async load(name: string): Promise<void> {
    const { registry } = this.store;
    await registry.checkDatabase();
    const summary = (await registry.listModels()).find((s) => s.name === name);
    if (!summary) throw notFound(`model "${name}" not found in the registry`);
    const model = this.store.model(name);
    await model.locked(async () => {
      model.unloaded = false;
      await this.store.sync(model, summary, true);
    });
  }

  /** Admin unload: stops serving every version of the model until it is loaded again. */
  async unload(name: string): Promise<void> {
    const model = await this.store.knownModel(name);
    await model.locked(async () => {
      model.unloaded = true;
      model.onDemand.clear();
      model.evicted.clear();
      this.store.clear(model);
    });
  }
}
