// Which packages of a package-lock.json (lockfileVersion 2/3) get installed for a given package.json,
// the way `npm prune --omit=dev` decides it: follow the manifest's remaining entries through the
// lockfile with Node's node_modules lookup, take optional dependencies only where their os/cpu/libc
// fit the target platform, and skip optional peers.

export interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  devDependencies?: Record<string, string>;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  link?: boolean;
  resolved?: string;
}

export interface Lockfile {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
}

export interface Manifest {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  [key: string]: unknown;
}

export interface Platform {
  os: string;
  cpu: string;
  libc: 'glibc' | 'musl';
}

export interface ClosureOptions {
  omitDev: boolean;
  platform: Platform;
}

/** npm's os/cpu/libc rule: `!x` excludes x; otherwise an empty or absent list allows everything. */
export function platformFieldAllows(list: string[] | undefined, value: string): boolean {
  if (!list || list.length === 0) return true;
  if (list.includes(`!${value}`)) return false;
  const allowed = list.filter((item) => !item.startsWith('!'));
  return allowed.length === 0 || allowed.includes(value);
}

export function fitsPlatform(entry: LockEntry, platform: Platform): boolean {
  return (
    platformFieldAllows(entry.os, platform.os) &&
    platformFieldAllows(entry.cpu, platform.cpu) &&
    platformFieldAllows(entry.libc, platform.libc)
  );
}

/** The folder Node searches next after `location` ("" is the project root). */
export function parentLocation(location: string): string | null {
  if (location === '') return null;
  const index = location.lastIndexOf('node_modules/');
  return index <= 0 ? '' : location.slice(0, index - 1);
}

/** Lockfile key that `require(name)` from the package at `from` resolves to, or null. */
export function resolveLocation(packages: Lockfile['packages'], from: string, name: string): string | null {
  for (let at: string | null = from; at !== null; at = parentLocation(at)) {
    const candidate = at === '' ? `node_modules/${name}` : `${at}/node_modules/${name}`;
    if (packages[candidate]) return candidate;
  }
  return null;
}

/** Package name of a lockfile key: `node_modules/a/node_modules/@s/b` → `@s/b`. */
export function packageName(location: string): string {
  return location.slice(location.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

/** Lockfile keys installed for `manifest` (the root is not included). */
export function installedLocations(manifest: Manifest, lock: Lockfile, options: ClosureOptions): Set<string> {
  if (lock.lockfileVersion < 2) throw new Error(`lockfileVersion ${lock.lockfileVersion} has no "packages" map`);
  const installed = new Set<string>();
  const pending: Array<{ from: string; name: string; optional: boolean }> = [];
  const want = (from: string, deps: Record<string, string> | undefined, optional: boolean) => {
    for (const name of Object.keys(deps ?? {})) pending.push({ from, name, optional });
  };
  const wantPeers = (from: string, entry: LockEntry | Manifest) => {
    const meta = (entry as LockEntry).peerDependenciesMeta ?? {};
    const required = Object.keys(entry.peerDependencies ?? {}).filter((name) => !meta[name]?.optional);
    for (const name of required) pending.push({ from, name, optional: false });
  };

  want('', manifest.dependencies, false);
  want('', manifest.optionalDependencies, true);
  if (!options.omitDev) want('', manifest.devDependencies, false);
  wantPeers('', manifest);

  while (pending.length > 0) {
    const { from, name, optional } = pending.pop()!;
    let location = resolveLocation(lock.packages, from, name);
    if (location === null) {
      if (optional) continue;
      throw new Error(`${name} (needed by ${from || 'the project'}) is not in package-lock.json`);
    }
    let entry = lock.packages[location];
    if (entry.link && entry.resolved) {
      location = entry.resolved;
      entry = lock.packages[location];
      if (!entry) throw new Error(`link target ${location} of ${name} is not in package-lock.json`);
    }
    if (!fitsPlatform(entry, options.platform)) {
      if (optional) continue;
      throw new Error(`${location} is required but does not support ${JSON.stringify(options.platform)}`);
    }
    if (installed.has(location)) continue;
    installed.add(location);
    want(location, entry.dependencies, false);
    want(location, entry.optionalDependencies, true);
    wantPeers(location, entry);
  }
  return installed;
}

/** Names (not locations) of the installed packages, sorted. */
export function installedNames(manifest: Manifest, lock: Lockfile, options: ClosureOptions): string[] {
  return [...new Set([...installedLocations(manifest, lock, options)].map(packageName))].sort();
}

/**
 * Applies `npm pkg delete KEY...` to a copy of a manifest. npm splits keys on dots; package names
 * such as `@tensorflow/tfjs` contain none, so `dependencies.@tensorflow/tfjs` is a two-level key.
 */
export function deleteManifestKeys(manifest: Manifest, keys: string[]): Manifest {
  const copy = structuredClone(manifest) as Record<string, unknown>;
  for (const key of keys) {
    const parts = key.split('.');
    let node: Record<string, unknown> | undefined = copy;
    for (const part of parts.slice(0, -1)) {
      const next: unknown = node?.[part];
      node = next && typeof next === 'object' ? (next as Record<string, unknown>) : undefined;
    }
    const last = parts[parts.length - 1];
    if (!node || !(last in node)) throw new Error(`npm pkg delete ${key}: no such key in package.json`);
    delete node[last];
  }
  return copy as Manifest;
}
