import type { ModelSummary, ModelVersionRecord, Registry } from '../../registry/types.ts';
import { RegistryError } from '../../registry/types.ts';
import { DEFAULT_SERVE_CONFIG } from '../config.ts';
import { ModelUnavailableError, notFound } from './errors.ts';
import {
  artifactChanged,
  classifyLoadFailure,
  describeFailure,
  fileStamp,
  retryDelayMs,
  type LoadFailure,
  type LoadStage,
} from './load-failure.ts';
import { LoadedVersion, type LoadOptions } from './loaded-version.ts';
import { ModelAdmin } from './model-admin.ts';
import type { ProviderChain } from './providers.ts';
import { RegistryPoller, type PollerLog } from './registry-poller.ts';
import {
  EMPTY_TABLE,
  evictOnDemand,
  resolveLoaded,
  ServedModel,
  servingProblems,
  unservedRefs,
  tableFor,
  wantedVersions,
  type ServingTable,
} from './serving-table.ts';

export { describeFailure, type LoadFailure } from './load-failure.ts';
export { DEFAULT_ALIAS } from './serving-table.ts';
export type ManagerLog = PollerLog;

/** Whether everything that should serve does; reasons are short and safe for unauthenticated callers. */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** Backoff between retries of transiently failing versions: 5 s, 10 s, 20 s, … capped at 5 min. */
export const LOAD_RETRY_BASE_MS = 5_000;
export const LOAD_RETRY_MAX_MS = 300_000;

/** A request for an unknown model or version re-reads the registry at most this often (default). */
const MISS_REFRESH_MS = 1000;

export interface Lease {
  version: LoadedVersion;
  /** Call once when the request is done with the session. */
  release: () => void;
}

export interface RepositoryEntry {
  name: string;
  version: string;
  state: 'READY' | 'UNAVAILABLE';
  reason: string;
}

export interface ModelStatus {
  name: string;
  defaultVersion: number | null;
  aliases: Record<string, number>;
  registryAliases: Record<string, number>;
  latestVersion: number;
  loaded: LoadedVersion[];
  failures: LoadFailure[];
  unloaded: boolean;
}

export interface ModelManagerOptions {
  registry: Registry;
  providers: ProviderChain;
  load: LoadOptions;
  log: ManagerLog;
  onLoadFailure?: (name: string, version: number) => void;
  /** Minimum time between registry reads triggered by requests for unknown models/versions. */
  missRefreshMs?: number;
  /** Each poll marks training runs without a heartbeat for this long as failed (default 30 s). */
  staleRunMs?: number;
  /** Retry backoff for transient load failures (defaults LOAD_RETRY_BASE_MS, LOAD_RETRY_MAX_MS). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** Clock for retry backoff (tests). */
  now?: () => number;
  /** The alias served when a request names no version or alias (default "production"); unset alias: the latest version. */
  defaultAlias?: string;
  /** False: ready while every model's default and aliases have some version serving (default true: Triton's rule). */
  strictReadiness?: boolean;
}

type VersionRef = number | string | undefined;

/**
 * Keeps registry versions loaded in onnxruntime sessions and answers "which session serves
 * (model, version | alias | default)". Aliases follow the registry: the new target is loaded and
 * warmed before the swap; a target that fails leaves the previous one serving. Which versions to
 * serve is decided by serving-table.ts, the timer lives in registry-poller.ts, and the admin
 * actions in model-admin.ts; this class owns the state and the loading.
 */
export class ModelManager {
  private readonly models = new Map<string, ServedModel>();
  private readonly poller: RegistryPoller;
  private readonly admin: ModelAdmin;
  private refreshing: Promise<void> | null = null;
  private lastRefreshAt = 0;
  private refreshedOnce = false;
  private closed = false;
  /** Counts alias moves made by this process, so a registry read older than a move is not applied. */
  private aliasWrites = 0;
  /** Detail of the failing registry read (listModels), null while reads work. */
  private registryUnreadable: string | null = null;

  constructor(private readonly opts: ModelManagerOptions) {
    this.poller = new RegistryPoller({
      registry: opts.registry,
      log: opts.log,
      staleRunMs: opts.staleRunMs ?? DEFAULT_SERVE_CONFIG.staleRunMs,
      refresh: () => this.refreshAll(),
    });
    this.admin = new ModelAdmin({
      registry: opts.registry,
      log: opts.log,
      knownModel: (name) => this.knownModel(name),
      model: (name) => this.model(name),
      tryLoad: (model, version, force) => this.tryLoad(model, version, force),
      sync: (model, summary, force) => this.sync(model, summary, force),
      install: (model, versions) => this.swap(model, tableFor(model, versions)),
      clear: (model) => this.swap(model, EMPTY_TABLE),
      noteAliasWrite: (model) => {
        model.lastAliasWrite = ++this.aliasWrites;
      },
    });
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** True once the registry has been read and every version it asked for was loaded or reported. */
  get ready(): boolean {
    return this.readiness().ready;
  }

  get registryAvailable(): boolean {
    return this.poller.registryUp && this.registryUnreadable === null;
  }

  /**
   * Server readiness (Triton's rule: ready when every model that should be ready is): the registry
   * was read and answers its checks now, and for every model not unloaded by an admin, the default
   * version and every alias target are served, none of them having failed its last load. Versions
   * being loaded for the first time do not count (they serve nothing yet and have not failed), nor
   * do versions loaded on demand by number.
   */
  readiness(strict = this.strict): Readiness {
    const reasons: string[] = [];
    if (this.closed) reasons.push('shutting down');
    if (!this.refreshedOnce) reasons.push('the model registry has not been read yet');
    if (strict && !this.registryAvailable) reasons.push('the model registry is unavailable');
    for (const name of [...this.models.keys()].sort()) reasons.push(...this.problemsOf(this.models.get(name)!, strict));
    return { ready: reasons.length === 0, reasons };
  }

  /**
   * Strict: what servingProblems says (a failed default or alias target, even with an older version
   * serving in its place). Lenient: only a default or alias with nothing serving at all.
   */
  private problemsOf(model: ServedModel, strict = this.strict): string[] {
    return strict ? servingProblems(model) : unservedRefs(model);
  }

  private get strict(): boolean {
    return this.opts.strictReadiness ?? true;
  }

  /** A model's readiness: the same rule as the server's, for this model only. */
  modelReadiness(name: string): Readiness {
    const model = this.models.get(name);
    if (!model) throw notFound(`model "${name}" not found`);
    const reasons = this.problemsOf(model);
    if (!model.unloaded && reasons.length === 0 && model.table.defaultVersion === null)
      reasons.push(`model "${name}" has no version ready`);
    return { ready: reasons.length === 0, reasons };
  }

  /** The registry's own health check, with transitions logged (see RegistryPoller). */
  checkRegistry(): Promise<boolean> {
    return this.poller.checkRegistry();
  }

  /** Calls poll() every intervalMs (0: never). */
  startPolling(intervalMs: number): void {
    this.poller.start(intervalMs);
  }

  /** One polling round (check, settle dead runs, refresh); never rejects. */
  poll(): Promise<void> {
    return this.poller.poll();
  }

  /** Loads what the registry says should be served (defaults and alias targets) for every model. */
  refreshAll(): Promise<void> {
    this.refreshing ??= this.doRefreshAll().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async doRefreshAll(): Promise<void> {
    // A summary read before a promote committed would move the alias back: such models wait for the next read.
    const aliasWritesAtRead = this.aliasWrites;
    let summaries: ModelSummary[];
    try {
      summaries = await this.opts.registry.listModels();
    } catch (err) {
      if (this.registryUnreadable === null) this.opts.log.warn({ err }, 'could not read the model registry; serving what is loaded');
      this.registryUnreadable = err instanceof Error ? err.message : String(err);
      throw err;
    }
    if (this.registryUnreadable !== null) this.opts.log.info({}, 'the model registry can be read again');
    this.registryUnreadable = null;
    this.lastRefreshAt = Date.now();
    const seen = new Set<string>();
    for (const summary of summaries) {
      seen.add(summary.name);
      const model = this.model(summary.name);
      if (model.unloaded || this.closed) continue;
      await model.locked(async () => {
        if (model.lastAliasWrite > aliasWritesAtRead) return;
        await this.sync(model, summary);
      });
    }
    for (const [name, model] of this.models) {
      if (seen.has(name)) continue;
      await model.locked(async () => this.swap(model, EMPTY_TABLE));
      this.models.delete(name);
    }
    this.refreshedOnce = true;
  }

  private registryReadIsStale(): boolean {
    return Date.now() - this.lastRefreshAt >= (this.opts.missRefreshMs ?? MISS_REFRESH_MS);
  }

  private model(name: string): ServedModel {
    let m = this.models.get(name);
    if (!m) {
      m = new ServedModel(name, this.opts.defaultAlias);
      this.models.set(name, m);
    }
    return m;
  }

  private async knownModel(name: string): Promise<ServedModel> {
    let m = this.models.get(name);
    if (!m && this.registryReadIsStale()) {
      await this.refreshAll().catch(() => {});
      m = this.models.get(name);
    }
    if (!m) throw notFound(`model "${name}" not found`);
    return m;
  }

  /** Brings one model in line with its registry summary. Must run under the model's lock. */
  private async sync(model: ServedModel, summary: ModelSummary, force = false): Promise<void> {
    model.registryAliases = { ...summary.aliases };
    model.latestVersion = summary.latestVersion;
    model.latestUnflaggedVersion = summary.latestUnflaggedVersion;
    const versions = new Map(model.table.versions);
    for (const v of wantedVersions(model)) {
      if (versions.has(v)) continue;
      const loaded = await this.tryLoad(model, v, force);
      if (loaded) versions.set(v, loaded);
    }
    this.swap(model, tableFor(model, versions));
  }

  /** Installs a new table in one assignment, then retires versions it no longer serves. */
  private swap(model: ServedModel, table: ServingTable): void {
    const old = model.table;
    model.table = table;
    for (const [v, loaded] of old.versions) {
      if (table.versions.get(v) !== loaded) void loaded.retire();
    }
  }

  private async tryLoad(model: ServedModel, version: number, force: boolean): Promise<LoadedVersion | null> {
    const previous = model.failures.get(version);
    const waiting = previous && (previous.permanent || (previous.retryAt !== null && this.now() < previous.retryAt.getTime()));
    if (waiting && !force && !(await artifactChanged(previous))) return null;
    const started = performance.now();
    let stage: LoadStage = 'fetch';
    let record: ModelVersionRecord | null = null;
    try {
      record = await this.opts.registry.getVersion(model.name, version);
      if (!record) throw new RegistryError('not_found', `version ${version} is not in the registry`);
      const artifact = await this.opts.registry.readArtifact(record);
      stage = 'load';
      const loaded = await LoadedVersion.load(record, artifact, this.opts.providers, this.opts.load);
      model.failures.delete(version);
      this.opts.log.info(
        { model: model.name, version, provider: loaded.provider, ms: Math.round(performance.now() - started) },
        'model version loaded and warmed up',
      );
      return loaded;
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      const { reason, permanent } = classifyLoadFailure(err, stage);
      const attempts = (previous?.permanent === false ? previous.attempts : 0) + 1;
      const delay = retryDelayMs(attempts, this.opts.retryBaseMs ?? LOAD_RETRY_BASE_MS, this.opts.retryMaxMs ?? LOAD_RETRY_MAX_MS);
      const retryAt = permanent ? null : new Date(this.now() + delay);
      const artifact = record ? { path: record.artifactPath, stamp: await fileStamp(record.artifactPath) } : undefined;
      model.failures.set(version, { version, message, reason, at: new Date(this.now()), permanent, attempts, retryAt, artifact });
      this.opts.log.error(
        { model: model.name, version, reason, err: message, retry: !permanent, attempts, ...(permanent ? {} : { retryInMs: delay }) },
        permanent
          ? 'model version failed to load; the previous version keeps serving; it is not retried until an admin load'
          : 'model version failed to load; the previous version keeps serving, and a later poll retries',
      );
      this.opts.onLoadFailure?.(model.name, version);
      return null;
    }
  }

  /**
   * The session for a request, marked in flight. ref: a version number (loaded on demand),
   * an alias, or undefined for the default version.
   */
  async acquire(name: string, ref?: VersionRef): Promise<Lease> {
    const model = await this.knownModel(name);
    if (model.unloaded) throw notFound(`model "${name}" is unloaded`);
    if (typeof ref === 'number') {
      const loaded = model.table.versions.get(ref);
      if (loaded) return { version: loaded, release: loaded.acquire() };
      return this.loadOnDemand(model, ref);
    }
    const loaded = resolveLoaded(model, ref);
    return { version: loaded, release: loaded.acquire() };
  }

  /** The loaded version serving (name, ref) right now, without loading anything. */
  peek(name: string, ref?: VersionRef): LoadedVersion {
    const model = this.models.get(name);
    if (!model || model.unloaded) throw notFound(`model "${name}" not found`);
    if (typeof ref === 'number') {
      const loaded = model.table.versions.get(ref);
      if (!loaded) throw notFound(`model "${name}" version ${ref} is not loaded`);
      return loaded;
    }
    return resolveLoaded(model, ref);
  }

  private async loadOnDemand(model: ServedModel, version: number): Promise<Lease> {
    // Versions only grow: anything above the latest known one needs a fresh registry read first.
    if (version > model.latestVersion && this.registryReadIsStale()) await this.refreshAll().catch(() => {});
    if (!Number.isSafeInteger(version) || version < 1 || version > model.latestVersion) {
      throw notFound(`model "${model.name}" has no version ${version}`);
    }
    return model.locked(async () => {
      let loaded = model.table.versions.get(version);
      if (!loaded) {
        const record = await this.opts.registry.getVersion(model.name, version);
        if (!record) throw notFound(`model "${model.name}" has no version ${version}`);
        loaded = (await this.tryLoad(model, version, false)) ?? undefined;
        if (!loaded) {
          const failure = model.failures.get(version);
          throw new ModelUnavailableError(
            `model "${model.name}" ${failure ? describeFailure(failure) : `version ${version} failed to load`}`,
            'load_failed',
          );
        }
        model.onDemand.add(version);
        evictOnDemand(model, version);
        this.swap(model, tableFor(model, new Map([...model.table.versions, [version, loaded]])));
      }
      return { version: loaded, release: loaded.acquire() };
    });
  }

  /** Moves an alias once its version is loaded and warm (see ModelAdmin.promote). */
  promote(name: string, version: number, alias: string, options: { force?: boolean } = {}) {
    return this.admin.promote(name, version, alias, options);
  }

  /** Admin load (see ModelAdmin.load). */
  async load(name: string): Promise<ModelStatus> {
    await this.admin.load(name);
    return this.status(name);
  }

  /** Admin unload (see ModelAdmin.unload). */
  async unload(name: string): Promise<ModelStatus> {
    await this.admin.unload(name);
    return this.status(name);
  }

  status(name: string): ModelStatus {
    const model = this.models.get(name);
    if (!model) throw notFound(`model "${name}" not found`);
    return {
      name,
      defaultVersion: model.table.defaultVersion,
      aliases: Object.fromEntries(model.table.aliases),
      registryAliases: { ...model.registryAliases },
      latestVersion: model.latestVersion,
      loaded: [...model.table.versions.values()].sort((a, b) => a.version - b.version),
      failures: [...model.failures.values()].sort((a, b) => a.version - b.version),
      unloaded: model.unloaded,
    };
  }

  /** The last load failure of a version, if its last attempt failed. */
  failure(name: string, version: number): LoadFailure | null {
    return this.models.get(name)?.failures.get(version) ?? null;
  }

  /** Every known model, as Triton's repository index lists them. */
  async index(): Promise<RepositoryEntry[]> {
    if (this.registryReadIsStale()) await this.refreshAll().catch(() => {});
    const entries: RepositoryEntry[] = [];
    for (const name of [...this.models.keys()].sort()) {
      const s = this.status(name);
      if (s.unloaded) entries.push({ name, version: '', state: 'UNAVAILABLE', reason: 'unloaded' });
      for (const v of s.loaded) entries.push({ name, version: String(v.version), state: 'READY', reason: '' });
      for (const f of s.failures) entries.push({ name, version: String(f.version), state: 'UNAVAILABLE', reason: f.reason });
    }
    return entries;
  }

  /** Every loaded version (for metrics and readiness). */
  loadedVersions(): LoadedVersion[] {
    return [...this.models.values()].flatMap((m) => [...m.table.versions.values()]);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.poller.close();
    await this.refreshing?.catch(() => {});
    const retiring: Promise<void>[] = [];
    for (const model of this.models.values()) {
      retiring.push(model.locked(async () => this.swap(model, EMPTY_TABLE)));
    }
    await Promise.all(retiring);
  }
}
