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
import {
  budgetEnabled,
  chooseEvictions,
  LoadSlot,
  LoadWaitError,
  overBudget,
  type BudgetEntry,
  type BudgetOptions,
  type EvictionReason,
} from './model-budget.ts';
import type { ProviderChain } from './providers.ts';
import { RegistryPoller, type PollerLog } from './registry-poller.ts';
import {
  defaultTarget,
  EMPTY_TABLE,
  evictOnDemand,
  loadableOnDemand,
  pinnedVersion,
  registryTarget,
  resolveLoaded,
  ServedModel,
  servingProblems,
  unservedRefs,
  tableFor,
  tableWithout,
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

/** What loaded a version: the registry (start, polls, promote, admin load) or a request for it (a cold start). */
export type LoadTrigger = 'registry' | 'on_demand';

/** What the metrics count of model loading (all optional). */
export interface ManagerEvents {
  loaded?: (name: string, version: number, trigger: LoadTrigger) => void;
  evicted?: (name: string, version: number, reason: EvictionReason) => void;
  /** A request found its version unloaded: seconds from that request to the version serving. */
  coldStart?: (name: string, version: number, seconds: number) => void;
}

/** The memory budget's state (the dashboard and stats read it). */
export interface BudgetStatus extends BudgetOptions {
  enabled: boolean;
  loadedVersions: number;
  /** Sum of the loaded versions' estimates (see LoadedVersion.memory); memoryBytes is the limit. */
  usedBytes: number;
  /** True while busy versions keep the server over its budget (they are unloaded once they drain). */
  over: boolean;
}

export const UNLOADED_BY_BUDGET = 'unloaded: memory budget (loads on its next request)';

interface LoadWaiter {
  resolve: (lease: Lease) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

const versionKey = (name: string, version: number) => `${name}\0${version}`;

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
  /** Versions the memory budget unloaded, not loaded again since. */
  evicted: number[];
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
  /** BNSERVE_MAX_LOADED_VERSIONS, BNSERVE_MODEL_MEMORY_MB, BNSERVE_MODEL_LOAD_WAIT_MS (default: no budget, 10 s wait). */
  budget?: BudgetOptions;
  events?: ManagerEvents;
  /** Applies the per-model settings stored in the registry; each poll calls it before re-reading the models. */
  syncSettings?: () => Promise<void>;
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
  private readonly budget: BudgetOptions;
  /** With a budget, sessions are created one at a time (room made first); taken after the model's lock, never before. */
  private readonly loadSlot = new LoadSlot();
  /** Loads requests wait for, one per version, by versionKey. */
  private readonly pendingLoads = new Map<string, Set<LoadWaiter>>();
  /** The last memory estimate of each version loaded (what it will take when loaded again). */
  private readonly estimates = new Map<string, number>();
  /** Busy versions keep the server over budget: each lease release tries again. */
  private overBudget = false;

  constructor(private readonly opts: ModelManagerOptions) {
    this.budget = opts.budget ?? DEFAULT_SERVE_CONFIG.modelBudget;
    this.poller = new RegistryPoller({
      registry: opts.registry,
      log: opts.log,
      staleRunMs: opts.staleRunMs ?? DEFAULT_SERVE_CONFIG.staleRunMs,
      syncSettings: opts.syncSettings,
      refresh: () => this.refreshAll(),
    });
    this.admin = new ModelAdmin({
      registry: opts.registry,
      log: opts.log,
      knownModel: (name) => this.knownModel(name),
      model: (name) => this.model(name),
      tryLoad: (model, version, force) => this.tryLoad(model, version, force, 'registry'),
      sync: (model, summary, force) => this.sync(model, summary, force),
      install: (model, versions) => {
        this.swap(model, tableFor(model, versions));
        this.enforceBudget();
      },
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
    return strict ? servingProblems(model) : unservedRefs(model, this.budgeted ? this.now() : null);
  }

  /** A memory budget is set: versions may be unloaded, and load again on their next request. */
  get budgeted(): boolean {
    return budgetEnabled(this.budget);
  }

  private get strict(): boolean {
    return this.opts.strictReadiness ?? true;
  }

  /** A model's readiness: the same rule as the server's, for this model only. */
  modelReadiness(name: string): Readiness {
    const model = this.models.get(name);
    if (!model) throw notFound(`model "${name}" not found`);
    const reasons = this.problemsOf(model);
    const onDemand = this.budgeted && loadableOnDemand(model, defaultTarget(model), this.now());
    if (!model.unloaded && reasons.length === 0 && model.table.defaultVersion === null && !onDemand)
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
      if (!force && !this.registryMayLoad(model, v)) continue;
      const loaded = await this.tryLoad(model, v, force, 'registry');
      if (loaded) versions.set(v, loaded);
    }
    this.swap(model, tableFor(model, versions));
    this.enforceBudget();
  }

  /**
   * With a budget, the registry's wishes load a version only when it replaces one serving the same
   * default or alias (an alias move), or when there is room; the others load on their first request.
   */
  private registryMayLoad(model: ServedModel, version: number): boolean {
    if (!this.budgeted) return true;
    const replacesDefault = defaultTarget(model) === version && model.table.defaultVersion !== null;
    const replacesAlias = Object.entries(model.registryAliases).some(([alias, v]) => v === version && model.table.aliases.has(alias));
    if (replacesDefault || replacesAlias) return true;
    const incoming = { memoryBytes: this.estimates.get(versionKey(model.name, version)) ?? 0 };
    return overBudget(this.budget, this.budgetEntries(), incoming) === null;
  }

  private withLoadSlot<T>(load: () => Promise<T>): Promise<T> {
    return this.budgeted ? this.loadSlot.run(load) : load();
  }

  /** Every loaded version as the budget sees it. */
  private budgetEntries(): (BudgetEntry & { model: ServedModel; loaded: LoadedVersion })[] {
    const entries: (BudgetEntry & { model: ServedModel; loaded: LoadedVersion })[] = [];
    for (const model of this.models.values()) {
      const pinned = pinnedVersion(model);
      for (const [v, loaded] of model.table.versions) {
        entries.push({
          key: versionKey(model.name, v),
          inflight: loaded.inflightRequests,
          lastUsed: loaded.useOrder,
          memoryBytes: loaded.memory.estimateBytes,
          pinned: v === pinned,
          model,
          loaded,
        });
      }
    }
    return entries;
  }

  /**
   * Unloads idle versions, least recently used first (unpinned before pinned), until the budget holds
   * with `incoming` counted. Synchronous: a version is unloaded only while no request holds it, and
   * a request takes its lease in the same tick it finds the version.
   */
  private enforceBudget(incoming?: { memoryBytes: number }): void {
    if (!this.budgeted) return;
    const entries = this.budgetEntries();
    const victims = chooseEvictions(this.budget, entries, incoming);
    for (const { key, reason } of victims) {
      const { model, loaded } = entries.find((e) => e.key === key)!;
      model.table = tableWithout(model.table, loaded.version);
      model.onDemand.delete(loaded.version);
      model.evicted.add(loaded.version);
      void loaded.retire();
      this.opts.log.info(
        { model: model.name, version: loaded.version, reason, estimateBytes: loaded.memory.estimateBytes },
        'model version unloaded to stay within the memory budget; its next request loads it again',
      );
      this.opts.events?.evicted?.(model.name, loaded.version, reason);
    }
    const left = entries.filter((e) => !victims.some((v) => v.key === e.key));
    this.overBudget = overBudget(this.budget, left) !== null;
  }

  /** The memory budget and what it holds now. */
  budgetStatus(): BudgetStatus {
    const entries = this.budgetEntries();
    return {
      ...this.budget,
      enabled: this.budgeted,
      loadedVersions: entries.length,
      usedBytes: entries.reduce((sum, e) => sum + e.memoryBytes, 0),
      over: this.budgeted && overBudget(this.budget, entries) !== null,
    };
  }

  /** Installs a new table in one assignment, then retires versions it no longer serves. */
  private swap(model: ServedModel, table: ServingTable): void {
    const old = model.table;
    model.table = table;
    for (const [v, loaded] of old.versions) {
      if (table.versions.get(v) !== loaded) void loaded.retire();
    }
  }

  /** beforeSession: runs once the artifact is read and verified, before its session is created. */
  private async tryLoad(
    model: ServedModel,
    version: number,
    force: boolean,
    trigger: LoadTrigger,
    beforeSession?: (record: ModelVersionRecord) => void,
  ): Promise<LoadedVersion | null> {
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
      const verified = record;
      const loaded = await this.withLoadSlot(async () => {
        beforeSession?.(verified);
        return LoadedVersion.load(verified, artifact, this.opts.providers, this.opts.load);
      });
      model.failures.delete(version);
      model.evicted.delete(version);
      this.estimates.set(versionKey(model.name, version), loaded.memory.estimateBytes);
      this.opts.log.info(
        {
          model: model.name,
          version,
          provider: loaded.provider,
          trigger,
          ms: Math.round(performance.now() - started),
          estimateBytes: loaded.memory.estimateBytes,
        },
        'model version loaded and warmed up',
      );
      this.opts.events?.loaded?.(model.name, version, trigger);
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
      if (loaded) return this.lease(loaded);
      return this.loadByNumber(model, ref);
    }
    const served = ref === undefined ? model.table.defaultVersion : model.table.aliases.get(ref);
    const loaded = served === null || served === undefined ? undefined : model.table.versions.get(served);
    if (loaded) return this.lease(loaded);
    if (this.budgeted) {
      // Unloaded by the budget (or never loaded for lack of room): load the target for this request.
      const target = ref === undefined ? defaultTarget(model) : registryTarget(model, ref);
      if (loadableOnDemand(model, target, this.now())) return this.loadOnDemand(model, target, false);
    }
    return this.lease(resolveLoaded(model, ref));
  }

  /** Marks a request in flight; with a budget, its release may unload versions that were kept busy over it. */
  private lease(loaded: LoadedVersion): Lease {
    const release = loaded.acquire();
    if (!this.budgeted) return { version: loaded, release };
    return {
      version: loaded,
      release: () => {
        release();
        if (this.overBudget) this.enforceBudget();
      },
    };
  }

  /**
   * With a budget: the version a request for (name, version | default) would load on demand because
   * it is not loaded now (unloaded by the budget, or never loaded for lack of room); null otherwise.
   */
  loadsOnDemand(name: string, version: number | undefined): number | null {
    const model = this.models.get(name);
    if (!this.budgeted || !model || model.unloaded) return null;
    if (version === undefined) {
      if (model.table.defaultVersion !== null) return null;
      const target = defaultTarget(model);
      return loadableOnDemand(model, target, this.now()) ? target : null;
    }
    const known = model.evicted.has(version) || wantedVersions(model).has(version);
    return known && !model.table.versions.has(version) && loadableOnDemand(model, version, this.now()) ? version : null;
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

  private async loadByNumber(model: ServedModel, version: number): Promise<Lease> {
    // Versions only grow: anything above the latest known one needs a fresh registry read first.
    if (version > model.latestVersion && this.registryReadIsStale()) await this.refreshAll().catch(() => {});
    if (!Number.isSafeInteger(version) || version < 1 || version > model.latestVersion) {
      throw notFound(`model "${model.name}" has no version ${version}`);
    }
    return this.loadOnDemand(model, version, true);
  }

  /**
   * Loads a version for the requests that ask for it: one load per version however many wait, each
   * waiting at most BNSERVE_MODEL_LOAD_WAIT_MS (then 503 + Retry-After; the load goes on, and a
   * retry finds it loaded). Waiters get their leases in the tick the version is installed, so the
   * budget cannot unload it before they run.
   */
  private loadOnDemand(model: ServedModel, version: number, byNumber: boolean): Promise<Lease> {
    const key = versionKey(model.name, version);
    let waiters = this.pendingLoads.get(key);
    const first = !waiters;
    if (!waiters) {
      waiters = new Set();
      this.pendingLoads.set(key, waiters);
    }
    const lease = new Promise<Lease>((resolve, reject) => {
      const waiter: LoadWaiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          waiters.delete(waiter);
          reject(
            new LoadWaitError(
              `model "${model.name}" version ${version} is not loaded and did not load within ${this.budget.loadWaitMs} ms ` +
                '(BNSERVE_MODEL_LOAD_WAIT_MS); its load goes on: retry',
            ),
          );
        }, this.budget.loadWaitMs),
      };
      waiters.add(waiter);
    });
    if (first) void this.runOnDemandLoad(model, version, byNumber, waiters);
    return lease;
  }

  private async runOnDemandLoad(model: ServedModel, version: number, byNumber: boolean, waiters: Set<LoadWaiter>): Promise<void> {
    const key = versionKey(model.name, version);
    const started = performance.now();
    const settle = (outcome: { loaded: LoadedVersion } | { error: unknown }) => {
      if (this.pendingLoads.get(key) === waiters) this.pendingLoads.delete(key);
      for (const w of waiters) {
        clearTimeout(w.timer);
        if ('loaded' in outcome) w.resolve(this.lease(outcome.loaded));
        else w.reject(outcome.error);
      }
      waiters.clear();
    };
    try {
      await model.locked(async () => {
        const already = model.table.versions.get(version);
        if (already) return settle({ loaded: already });
        // Queued behind close(): loading now would leave a session nobody releases.
        if (this.closed) throw new ModelUnavailableError('the server is shutting down', 'not_loaded');
        // Queued behind an admin unload: the model is to hold no memory.
        if (model.unloaded) throw notFound(`model "${model.name}" is unloaded`);
        const record = await this.opts.registry.getVersion(model.name, version);
        if (!record) throw notFound(`model "${model.name}" has no version ${version}`);
        // Room is made once the artifact has proved readable, before its session joins a full house.
        const makeRoom = () => this.enforceBudget({ memoryBytes: this.estimates.get(key) ?? record.artifactSize });
        const loaded = await this.tryLoad(model, version, false, 'on_demand', makeRoom);
        if (!loaded) {
          const failure = model.failures.get(version);
          throw new ModelUnavailableError(
            `model "${model.name}" ${failure ? describeFailure(failure) : `version ${version} failed to load`}`,
            'load_failed',
          );
        }
        if (byNumber) {
          model.onDemand.add(version);
          evictOnDemand(model, version);
        }
        this.swap(model, tableFor(model, new Map([...model.table.versions, [version, loaded]])));
        this.opts.events?.coldStart?.(model.name, version, (performance.now() - started) / 1000);
        settle({ loaded });
        // The table keeps only versions something points at: an alias that moved while this load
        // waited for the lock leaves it out. Its waiters hold leases; the session goes after them.
        if (model.table.versions.get(version) !== loaded) void loaded.retire();
        this.enforceBudget();
      });
    } catch (error) {
      settle({ error });
    }
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
      evicted: [...model.evicted].filter((v) => !model.table.versions.has(v)).sort((a, b) => a - b),
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
      const model = this.models.get(name)!;
      const s = this.status(name);
      if (s.unloaded) entries.push({ name, version: '', state: 'UNAVAILABLE', reason: 'unloaded' });
      const versions: { version: number; entry: RepositoryEntry }[] = [];
      const add = (version: number, state: RepositoryEntry['state'], reason: string) =>
        versions.push({ version, entry: { name, version: String(version), state, reason } });
      for (const v of s.loaded) add(v.version, 'READY', '');
      for (const f of s.failures) if (!model.table.versions.has(f.version)) add(f.version, 'UNAVAILABLE', f.reason);
      if (this.budgeted && !s.unloaded) {
        // Unloaded by the budget, or wanted by the registry and left for the first request for lack of room.
        const onDemand = new Set([...s.evicted, ...wantedVersions(model)]);
        for (const v of [...onDemand].sort((a, b) => a - b)) {
          if (!model.table.versions.has(v) && loadableOnDemand(model, v, this.now())) add(v, 'UNAVAILABLE', UNLOADED_BY_BUDGET);
        }
      }
      entries.push(...versions.sort((a, b) => a.version - b.version).map((v) => v.entry));
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
