// The pure half of model management: which versions a model should serve (aliases → versions),
// what answers a request, what to keep and what to evict. No I/O, no registry, no sessions loaded here.
import { ownValue } from '../../lib/own-value.ts';
import { defaultVersion, PRODUCTION_ALIAS } from '../../lib/names.ts';
import { ModelUnavailableError, notFound } from './errors.ts';
import { describeFailure, type LoadFailure } from './load-failure.ts';
import type { LoadedVersion } from './loaded-version.ts';

/** What requests read: replaced as a whole, never mutated, so a swap is one assignment. */
export interface ServingTable {
  versions: ReadonlyMap<number, LoadedVersion>;
  aliases: ReadonlyMap<string, number>;
  /** Served when no version or alias is named: the default alias if set, else the latest unflagged. */
  defaultVersion: number | null;
}

export const EMPTY_TABLE: ServingTable = { versions: new Map(), aliases: new Map(), defaultVersion: null };
/** The alias served when a request names none, unless BNSERVE_DEFAULT_ALIAS names another. */
export const DEFAULT_ALIAS = PRODUCTION_ALIAS;
/** Versions loaded because a request named them by number, kept per model beyond aliases. */
export const MAX_ON_DEMAND_VERSIONS = 4;

/** One model's serving state: its table, what the registry says, and what failed. */
export class ServedModel {
  table: ServingTable = EMPTY_TABLE;
  registryAliases: Record<string, number> = {};
  latestVersion = 0;
  /** Latest version the BN guard did not flag: the default when the default alias is not set (0: none). */
  latestUnflaggedVersion = 0;
  /** Value of the manager's alias-write counter at this model's last promote (see ModelManager.refreshAll). */
  lastAliasWrite = 0;
  readonly failures = new Map<number, LoadFailure>();
  readonly onDemand = new Set<number>();
  /** Versions the memory budget unloaded (loaded again by their next request). */
  readonly evicted = new Set<number>();
  unloaded = false;
  private lock: Promise<unknown> = Promise.resolve();

  constructor(
    readonly name: string,
    /** The alias served when a request names no version (BNSERVE_DEFAULT_ALIAS); unset: the latest unflagged version. */
    readonly defaultAlias: string = DEFAULT_ALIAS,
  ) {}

  /** Runs fn after every earlier locked operation on this model (loads and swaps never interleave). */
  locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }
}

/** The version served when none is named: the default alias, else the latest unflagged version (0: none). */
export function defaultTarget(model: ServedModel): number {
  return defaultVersion(model.registryAliases, model.latestUnflaggedVersion, model.defaultAlias);
}

/** The version the registry points an alias at; undefined for an alias it does not hold (built-in names included). */
export function registryTarget(model: ServedModel, alias: string): number | undefined {
  return ownValue(model.registryAliases, alias);
}

/** Versions the registry says should be loaded: the default and every alias target. */
export function wantedVersions(model: ServedModel): Set<number> {
  return new Set([defaultTarget(model), ...Object.values(model.registryAliases)].filter((v) => v > 0));
}

/**
 * Serving table for the registry's aliases, keeping the previous target wherever a new one is not
 * loaded; versions nothing refers to are dropped (and forgotten as on-demand versions), and so are
 * retired ones (the budget may unload a version while a registry sync holds an older copy of the map).
 */
export function tableFor(model: ServedModel, given: ReadonlyMap<number, LoadedVersion>): ServingTable {
  const versions = new Map([...given].filter(([, loaded]) => !loaded.isRetired));
  const old = model.table;
  const aliases = new Map<string, number>();
  for (const [alias, v] of Object.entries(model.registryAliases)) {
    const target = versions.has(v) ? v : old.aliases.get(alias);
    if (target !== undefined && versions.has(target)) aliases.set(alias, target);
  }
  const wantedDefault = defaultTarget(model);
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

/** The loaded version answering an alias (or the default), or the domain error that says why none does. */
export function resolveLoaded(model: ServedModel, alias: string | undefined): LoadedVersion {
  const table = model.table;
  const v = alias === undefined ? table.defaultVersion : table.aliases.get(alias);
  if (v !== null && v !== undefined) return table.versions.get(v)!;
  const target = alias === undefined ? defaultTarget(model) : registryTarget(model, alias);
  if (target === undefined) throw notFound(`model "${model.name}" has no alias "${alias}"`);
  if (alias === undefined && target === 0) {
    throw new ModelUnavailableError(
      `model "${model.name}" has no version to serve by default: every version was flagged by the BN guard; ` +
        `ask for one by number, or promote one to "${model.defaultAlias}" (with --force)`,
      'not_loaded',
    );
  }
  const failure = model.failures.get(target);
  const what = `model "${model.name}"${alias ? ` alias "${alias}"` : ''} has no version ready`;
  if (failure) throw new ModelUnavailableError(`${what}: ${describeFailure(failure)}`, 'load_failed');
  throw new ModelUnavailableError(`${what} yet`, 'not_loaded');
}

/** Default and alias targets whose last load failed, with what answers instead (readiness reasons). */
export function servingProblems(model: ServedModel): string[] {
  if (model.unloaded || model.latestVersion === 0) return [];
  const wanted: { version: number; label: string; served: number | null }[] = [
    { version: defaultTarget(model), label: 'default', served: model.table.defaultVersion },
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

/** The table without one version: the refs it served answer by loading it again (see ModelManager.acquire). */
export function tableWithout(table: ServingTable, version: number): ServingTable {
  return {
    versions: new Map([...table.versions].filter(([v]) => v !== version)),
    aliases: new Map([...table.aliases].filter(([, v]) => v !== version)),
    defaultVersion: table.defaultVersion === version ? null : table.defaultVersion,
  };
}

/**
 * Pinned by an alias: the version the explicitly set default alias (BNSERVE_DEFAULT_ALIAS, in the
 * registry) serves. The budget unloads such a version only when unpinned ones cannot make room.
 */
export function pinnedVersion(model: ServedModel): number | null {
  return registryTarget(model, model.defaultAlias) !== undefined ? model.table.defaultVersion : null;
}

/**
 * With a memory budget, a version not loaded is served by loading it, unless its last load failed
 * for good or is still waiting for its retry time (`now`, ms).
 */
export function loadableOnDemand(model: ServedModel, version: number | undefined, now: number): version is number {
  if (version === undefined || version <= 0 || version > model.latestVersion) return false;
  const failure = model.failures.get(version);
  return !failure || (!failure.permanent && failure.retryAt !== null && now >= failure.retryAt.getTime());
}

/**
 * The lenient readiness rule: the default and each alias of a model with versions must have some
 * version serving; with a memory budget (`onDemandAt`: the time now, ms), or be loadable on the next request.
 */
export function unservedRefs(model: ServedModel, onDemandAt: number | null = null): string[] {
  if (model.unloaded || model.latestVersion === 0) return [];
  const refs = [
    { label: 'default', served: model.table.defaultVersion, version: defaultTarget(model) },
    ...Object.entries(model.registryAliases).map(([alias, version]) => ({
      label: `alias "${alias}"`,
      served: model.table.aliases.get(alias) ?? null,
      version,
    })),
  ];
  return refs
    .filter((r) => r.served === null && r.version > 0 && !(onDemandAt !== null && loadableOnDemand(model, r.version, onDemandAt)))
    .map(
      (r) =>
        `model "${model.name}" ${r.label}: no version serving yet (version ${r.version} ${model.failures.has(r.version) ? 'failed to load' : 'is loading'})`,
    );
}

/** Forgets the least recently used on-demand versions beyond MAX_ON_DEMAND_VERSIONS (tableFor then drops them). */
export function evictOnDemand(model: ServedModel, justLoaded: number): void {
  const candidates = [...model.onDemand].filter((v) => v !== justLoaded);
  candidates.sort((a, b) => (model.table.versions.get(a)?.useOrder ?? 0) - (model.table.versions.get(b)?.useOrder ?? 0));
  while (model.onDemand.size > MAX_ON_DEMAND_VERSIONS && candidates.length > 0) model.onDemand.delete(candidates.shift()!);
}
