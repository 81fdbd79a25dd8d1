// The naming vocabulary every layer shares (config, settings, registry, server, CLI): what a model
// name and an alias may be, and the alias that promotion and serving default to. The registry
// enforces it; the rest only read it.

/** Same rule as the training config's `name`: safe in URLs, file names and shells. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** Starts with a letter so that an alias can never be mistaken for a version number. */
export const ALIAS = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;
/** The alias promote moves and reads default to (and the server's BNSERVE_DEFAULT_ALIAS default). */
export const PRODUCTION_ALIAS = 'production';

/**
 * The version a request that names none gets, the one rule for the registry, the server and the test
 * fake: the default alias's version, else the latest version the BN guard did not flag (0: none).
 */
export function defaultVersion(
  aliases: Readonly<Record<string, number>>,
  latestUnflaggedVersion: number,
  alias: string = PRODUCTION_ALIAS,
): number {
  // Own keys only: an alias named "constructor" or "toString" is not set unless the registry holds it.
  return Object.hasOwn(aliases, alias) ? aliases[alias] : latestUnflaggedVersion;
}
