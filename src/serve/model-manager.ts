import { stat } from 'node:fs/promises';
import type { ModelSummary, ModelVersionRecord, Registry } from '../registry/types.ts';
import { RegistryError } from '../registry/types.ts';
import { DEFAULT_ALIAS, DEFAULT_STALE_RUN_MS } from './config.ts';
import { HttpError, notFound, unavailable, unprocessable } from './http-errors.ts';
import { classifyLoadFailure, retryDelayMs, type LoadStage } from './load-failure.ts';
import { LoadedVersion, type LoadOptions } from './loaded-version.ts';
import type { ProviderChain } from './providers.ts';

export interface ManagerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface LoadFailure {
  version: number;
  /** Full detail (may name files): for logs and authenticated admin answers only. */
  message: string;
  /** Short reason, safe for anyone: "artifact missing", "sha256 mismatch", … */
  reason: string;
  at: Date;
  /**
   * True when loading again cannot help (sha256 mismatch of present bytes, invalid ONNX, a graph that
   * disagrees with its registry row): polls skip the version until an admin load. False for missing
   * files, read errors, registry errors and warm-up failures: retried with backoff.
   */
  permanent: boolean;
  /** Failed attempts in a row. */
  attempts: number;
  /** When polls may try a transient failure again (null for permanent ones). */
  retryAt: Date | null;
  /**
   * The artifact file as it was at the failure (see fileStamp): when it changes (a file put back or
   * repaired), the next poll tries again at once, permanent failure or not.
   */
  artifact?: { path: string; stamp: string | null };
}

/** Identity and content stamp of a file (inode, size, mtime), or null when it does not exist. */
async function fileStamp(file: string): Promise<string | null> {
  try {
    const s = await stat(file);
    return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
  } catch {
    return null;
  }
}

/** Whether everything that should serve does; reasons are short and safe for unauthenticated callers. */
export interface Readiness {
  ready: boolean;
  reasons: string[];
}

/** Backoff between retries of transiently failing versions: 5 s, 10 s, 20 s, … capped at 5 min. */
export const LOAD_RETRY_BASE_MS = 5_000;
export const LOAD_RETRY_MAX_MS = 300_000;

/** What requests read: replaced as a whole, never mutated, so a swap is one assignment. */
interface ServingTable {
  versions: ReadonlyMap<number, LoadedVersion>;
  aliases: ReadonlyMap<string, number>;
  /** Served when no version or alias is named: the default alias if set, else the latest. */
  defaultVersion: number | null;
}

const EMPTY_TABLE: ServingTable = { versions: new Map(), aliases: new Map(), defaultVersion: null };
/** Versions loaded because a request named them by number, kept per model beyond aliases. */
const MAX_ON_DEMAND_VERSIONS = 4;
/** A request for an unknown model or version re-reads the registry at most this often (default). */
const MISS_REFRESH_MS = 1000;

async function artifactChanged(failure: LoadFailure): Promise<boolean> {
  return failure.artifact !== undefined && (await fileStamp(failure.artifact.path)) !== failure.artifact.stamp;
}

/** The version served when none is named: the default alias, else the latest unflagged version (0: none). */
function defaultTarget(model: ServedModel, defaultAlias: string): number {
  return model.registryAliases[defaultAlias] ?? model.latestUnflaggedVersion;
}

class ServedModel {
  table: ServingTable = EMPTY_TABLE;
  registryAliases: Record<string, number> = {};
  latestVersion = 0;
  /** Latest version the BN guard did not flag: the default when the default alias is not set (0: none). */
  latestUnflaggedVersion = 0;
  /** Value of the manager's alias-write counter at this model's last promote (see doRefreshAll). */
  lastAliasWrite = 0;
  readonly failures = new Map<number, LoadFailure>();
  readonly onDemand = new Set<number>();
  unloaded = false;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(readonly name: string) {}

  /** Runs fn after every earlier locked operation on this model (loads and swaps never interleave). */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }
}

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
}

type VersionRef = number | string | undefined;

/**
 * Keeps registry versions loaded in onnxruntime sessions and answers "which session serves
 * (model, version | alias | default)". Aliases follow the registry: the new target is loaded and
 * warmed before the swap; a target that fails leaves the previous one serving.
 */
export class ModelManager {
  private readonly models = new Map<string, ServedModel>();
  private refreshing: Promise<void> | null = null;
  private polling: Promise<void> | null = null;
  private lastRefreshAt = 0;
  private refreshedOnce = false;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Counts alias moves made by this process, so a registry read older than a move is not applied. */
  private aliasWrites = 0;
  /** Detail of the failing registry check, null while checkDatabase() passes. */
  private registryDown: string | null = null;
  /** Detail of the failing registry read (listModels), null while reads work. */
  private registryUnreadable: string | null = null;

  constructor(private readonly opts: ModelManagerOptions) {}

  private get defaultAlias(): string {
    return this.opts.defaultAlias ?? DEFAULT_ALIAS;
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now();
  }

  /** True once the registry has been read and every version it asked for was loaded or reported. */
  get ready(): boolean {
    return this.readiness().ready;
  }

  get registryAvailable(): boolean {
    return this.registryDown === null && this.registryUnreadable === null;
  }

  /**
   * Server readiness (Triton's rule: ready when every model that should be ready is): the registry
   * was read and answers its checks now, and for every model not unloaded by an admin, the default
   * version and every alias target are served, none of them having failed its last load. Versions
   * being loaded for the first time do not count (they serve nothing yet and have not failed), nor
   * do versions loaded on demand by number.
   */
  readiness(): Readiness {
    const reasons: string[] = [];
    if (this.closed) reasons.push('shutting down');
    if (!this.refreshedOnce) reasons.push('the model registry has not been read yet');
    if (!this.registryAvailable) reasons.push('the model registry is unavailable');
    for (const name of [...this.models.keys()].sort()) reasons.push(...this.problems(this.models.get(name)!));
    return { ready: reasons.length === 0, reasons };
  }

  /** A model's readiness: the same rule as the server's, for this model only. */
  modelReadiness(name: string): Readiness {
    const model = this.models.get(name);
    if (!model) throw notFound(`model "${name}" not found`);
    const reasons = this.problems(model);
    if (!model.unloaded && reasons.length === 0 && model.table.defaultVersion === null)
      reasons.push(`model "${name}" has no version ready`);
    return { ready: reasons.length === 0, reasons };
  }

  /** Default and alias targets whose last load failed, with what answers instead. */
  private problems(model: ServedModel): string[] {
    if (model.unloaded || model.latestVersion === 0) return [];
    const wanted: { version: number; label: string; served: number | null }[] = [
      { version: defaultTarget(model, this.defaultAlias), label: 'default', served: model.table.defaultVersion },
      ...Object.entries(model.registryAliases).map(([alias, version]) => ({
        version,
        label: `alias "${alias}"`,
        served: model.table.aliases.get(alias) ?? null,
      })),
    ];
    const problems: string[] = [];
    for (const version of new Set(wanted.map((w) => w.version))) {
      const failure = model.failures.get(version);
      if (!failure || model.table.versions.has(version)) continue;
      const refs = wanted.filter((w) => w.version === version);
      const instead = refs
        .map((r) => `${r.label}: ${r.served !== null ? `version ${r.served} keeps serving` : 'requests get 503'}`)
        .join(', ');
      problems.push(`model "${model.name}" ${describeFailure(failure)} (${instead})`);
    }
    return problems;
  }

  /**
   * Runs the registry's own health check (database file still there, server answering). Logs only
   * transitions: once when it starts failing, once when it passes again.
   */
  async checkRegistry(): Promise<boolean> {
    try {
      await this.opts.registry.checkDatabase();
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      if (this.registryDown === null) {
        this.opts.log.error(
          { err: detail },
          'the model registry is unavailable: not ready, loaded models keep serving, admin writes are refused; checking again on every poll',
        );
      }
      this.registryDown = detail;
      return false;
    }
    if (this.registryDown !== null) this.opts.log.info({}, 'the model registry is available again');
    this.registryDown = null;
    return true;
  }

  /** Calls poll() every intervalMs (0: never). */
  startPolling(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  /**
   * One polling round: marks dead training runs failed, then re-reads the registry. Never rejects:
   * failures are logged and the next round tries again.
   */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      if (this.closed) return;
      // A registry that fails its check may still answer reads from a deleted file: read nothing then.
      if (!(await this.checkRegistry())) return;
      await this.failStaleRuns();
      await this.refreshAll().catch(() => {}); // refreshAll logs its own failure
    })().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async failStaleRuns(): Promise<void> {
    const staleMs = this.opts.staleRunMs ?? DEFAULT_STALE_RUN_MS;
    try {
      const failed = await this.opts.registry.failStaleRuns(staleMs);
      if (failed > 0) this.opts.log.info({ runs: failed, staleMs }, 'marked training runs without a recent heartbeat as failed');
    } catch (err) {
      this.opts.log.warn({ err }, 'could not mark stale training runs as failed; trying again on the next poll');
    }
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
      m = new ServedModel(name);
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
    const wanted = new Set<number>([defaultTarget(model, this.defaultAlias), ...Object.values(summary.aliases)].filter((v) => v > 0));
    const versions = new Map(model.table.versions);
    for (const v of wanted) {
      if (versions.has(v)) continue;
      const loaded = await this.tryLoad(model, v, force);
      if (loaded) versions.set(v, loaded);
    }
    this.swap(model, this.tableFor(model, versions));
  }

  /** Serving table for the registry's aliases, keeping the previous target wherever a new one is not loaded. */
  private tableFor(model: ServedModel, versions: Map<number, LoadedVersion>): ServingTable {
    const old = model.table;
    const aliases = new Map<string, number>();
    for (const [alias, v] of Object.entries(model.registryAliases)) {
      const target = versions.has(v) ? v : old.aliases.get(alias);
      if (target !== undefined && versions.has(target)) aliases.set(alias, target);
    }
    const wantedDefault = defaultTarget(model, this.defaultAlias);
    const defaultVersion = versions.has(wantedDefault)
      ? wantedDefault
      : old.defaultVersion !== null && versions.has(old.defaultVersion)
        ? old.defaultVersion
        : null;
    const keep = new Set<number>([...aliases.values(), ...model.onDemand]);
    if (defaultVersion !== null) keep.add(defaultVersion);
    const kept = new Map([...versions].filter(([v]) => keep.has(v)));
    for (const v of model.onDemand) if (!kept.has(v)) model.onDemand.delete(v);
    return { versions: kept, aliases, defaultVersion };
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
    const loaded = this.resolveLoaded(model, ref);
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
    return this.resolveLoaded(model, ref);
  }

  private resolveLoaded(model: ServedModel, alias: string | undefined): LoadedVersion {
    const table = model.table;
    const v = alias === undefined ? table.defaultVersion : table.aliases.get(alias);
    if (v === null || v === undefined) {
      if (alias !== undefined && !(alias in model.registryAliases)) throw notFound(`model "${model.name}" has no alias "${alias}"`);
      const target = alias === undefined ? defaultTarget(model, this.defaultAlias) : model.registryAliases[alias];
      if (alias === undefined && target === 0) {
        throw unavailable(
          `model "${model.name}" has no version to serve by default: every version was flagged by the BN guard; ` +
            `ask for one by number, or promote one to "${this.defaultAlias}" (with --force)`,
          'not_loaded',
        );
      }
      const failure = model.failures.get(target);
      const what = `model "${model.name}"${alias ? ` alias "${alias}"` : ''} has no version ready`;
      if (failure) throw unavailable(`${what}: ${describeFailure(failure)}`, 'load_failed');
      throw unavailable(`${what} yet`, 'not_loaded');
    }
    return table.versions.get(v)!;
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
          throw unavailable(
            `model "${model.name}" ${failure ? describeFailure(failure) : `version ${version} failed to load`}`,
            'load_failed',
          );
        }
        model.onDemand.add(version);
        this.evictOnDemand(model, version);
        this.swap(model, this.tableFor(model, new Map([...model.table.versions, [version, loaded]])));
      }
      return { version: loaded, release: loaded.acquire() };
    });
  }

  private evictOnDemand(model: ServedModel, justLoaded: number): void {
    const candidates = [...model.onDemand].filter((v) => v !== justLoaded);
    candidates.sort((a, b) => (model.table.versions.get(a)?.lastUsed ?? 0) - (model.table.versions.get(b)?.lastUsed ?? 0));
    while (model.onDemand.size > MAX_ON_DEMAND_VERSIONS && candidates.length > 0) model.onDemand.delete(candidates.shift()!);
  }

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
    // Refuse before loading anything: the registry write would fail anyway.
    await this.opts.registry.checkDatabase();
    const model = await this.knownModel(name);
    return model.locked(async () => {
      let loaded = model.table.versions.get(version);
      const loadedHere = !loaded;
      if (!loaded) {
        const record = await this.opts.registry.getVersion(name, version);
        if (!record) throw notFound(`model "${name}" has no version ${version}`);
        loaded = (await this.tryLoad(model, version, true)) ?? undefined;
        if (!loaded) {
          throw unprocessable(
            `model "${name}" version ${version} failed to load, alias "${alias}" was not moved: ${model.failures.get(version)?.message ?? 'unknown error'}`,
          );
        }
      }
      const previous = model.table.aliases.get(alias) ?? null;
      try {
        await this.opts.registry.promote(name, version, alias, options);
      } catch (err) {
        if (loadedHere) void loaded.retire();
        if (err instanceof RegistryError && err.code === 'not_found') throw notFound(err.message);
        if (err instanceof RegistryError && err.code === 'invalid') throw new HttpError(400, err.message);
        if (err instanceof RegistryError && err.code === 'refused') throw new HttpError(409, err.message);
        throw err;
      }
      model.lastAliasWrite = ++this.aliasWrites;
      model.registryAliases = { ...model.registryAliases, [alias]: version };
      model.unloaded = false;
      this.swap(model, this.tableFor(model, new Map([...model.table.versions, [version, loaded]])));
      this.opts.log.info({ model: name, version, alias, previous }, 'alias moved');
      return { previous, version: loaded };
    });
  }

  /** Admin load: clears "unloaded" and remembered failures, then loads what the registry says. */
  async load(name: string): Promise<ModelStatus> {
    await this.opts.registry.checkDatabase();
    const summaries = await this.opts.registry.listModels();
    const summary = summaries.find((s) => s.name === name);
    if (!summary) throw notFound(`model "${name}" not found in the registry`);
    const model = this.model(name);
    await model.locked(async () => {
      model.unloaded = false;
      await this.sync(model, summary, true);
    });
    return this.status(name);
  }

  /** Admin unload: stops serving every version of the model until it is loaded again. */
  async unload(name: string): Promise<ModelStatus> {
    const model = await this.knownModel(name);
    await model.locked(async () => {
      model.unloaded = true;
      model.onDemand.clear();
      this.swap(model, EMPTY_TABLE);
    });
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
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
    await this.refreshing?.catch(() => {});
    const retiring: Promise<void>[] = [];
    for (const model of this.models.values()) {
      retiring.push(model.locked(async () => this.swap(model, EMPTY_TABLE)));
    }
    await Promise.all(retiring);
  }
}

/** "version 3 failed to load: artifact missing (retrying)": short, no paths. */
export function describeFailure(f: LoadFailure): string {
  return `version ${f.version} failed to load: ${f.reason}${f.permanent ? '' : ' (retrying)'}`;
}
