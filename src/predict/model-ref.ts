// `NAME`, `NAME:VERSION` or `NAME@ALIAS`: which registered version `bnserve predict` scores with,
// resolved by the same rules as the server (a plain name gets the server's default version).
import { ConfigError } from '../lib/errors.ts';
import { ALIAS, defaultVersion, MODEL_NAME } from '../lib/names.ts';
import { quoted } from '../lib/quote.ts';
import { RegistryError, type ModelVersionRecord, type Registry } from '../registry/types.ts';

export type ModelRef =
  | { name: string; kind: 'default' }
  | { name: string; kind: 'version'; version: number }
  | { name: string; kind: 'alias'; alias: string };

/** Parses the command's model argument; a malformed one is a ConfigError (exit 2) before anything is opened. */
export function parseModelRef(text: string): ModelRef {
  const at = text.indexOf('@');
  const colon = text.indexOf(':');
  const cut = at >= 0 && (colon < 0 || at < colon) ? at : colon;
  const name = cut >= 0 ? text.slice(0, cut) : text;
  if (!MODEL_NAME.test(name)) {
    throw new ConfigError(
      `model ${quoted(text)}: expected NAME, NAME:VERSION or NAME@ALIAS, where NAME has letters, digits, ".", "_" and "-" (at most 64)`,
    );
  }
  if (cut < 0) return { name, kind: 'default' };
  const rest = text.slice(cut + 1);
  if (text[cut] === ':') {
    if (!/^[1-9]\d*$/.test(rest) || !Number.isSafeInteger(Number(rest))) {
      const hint = ALIAS.test(rest) ? ` (for an alias write ${name}@${rest})` : '';
      throw new ConfigError(`model ${quoted(text)}: the version after ":" must be a positive integer${hint}`);
    }
    return { name, kind: 'version', version: Number(rest) };
  }
  if (!ALIAS.test(rest)) {
    throw new ConfigError(
      `model ${quoted(text)}: the alias after "@" starts with a letter, then letters, digits, ".", "_" and "-" (at most 64)`,
    );
  }
  return { name, kind: 'alias', alias: rest };
}

/**
 * The registry row for `ref`: by number, by alias, or, for a plain name, the version the server
 * answers with (its default alias, BNSERVE_DEFAULT_ALIAS, else the latest version the BN guard did
 * not flag). A missing model, version or alias is RegistryError('not_found') (exit 4).
 */
export async function resolveModelRef(registry: Registry, ref: ModelRef, defaultAlias: string): Promise<ModelVersionRecord> {
  if (ref.kind === 'version' || ref.kind === 'alias') {
    const record = await registry.getVersion(ref.name, ref.kind === 'version' ? ref.version : ref.alias);
    if (record) return record;
    const versions = await registry.listVersions(ref.name);
    if (versions.length === 0) throw new RegistryError('not_found', `no model named ${ref.name}`);
    if (ref.kind === 'version') {
      throw new RegistryError(
        'not_found',
        `model ${ref.name} has no version ${ref.version} (versions: ${versions.map((v) => v.version).join(', ')})`,
      );
    }
    const aliases = versions.flatMap((v) => v.aliases);
    throw new RegistryError(
      'not_found',
      `model ${ref.name} has no alias ${quoted(ref.alias)} (aliases: ${aliases.length > 0 ? aliases.join(', ') : 'none'})`,
    );
  }
  const versions = await registry.listVersions(ref.name);
  if (versions.length === 0) throw new RegistryError('not_found', `no model named ${ref.name}`);
  const aliases = Object.fromEntries(versions.flatMap((v) => v.aliases.map((alias) => [alias, v.version] as const)));
  const latestUnflagged = versions.filter((v) => v.bnGuardWarning === null).reduce((m, v) => Math.max(m, v.version), 0);
  const version = defaultVersion(aliases, latestUnflagged, defaultAlias);
  const record = versions.find((v) => v.version === version);
  if (!record) {
    throw new RegistryError(
      'not_found',
      `model ${ref.name} has no version to use by default: every version was flagged by the BN guard; ` +
        `name one (${ref.name}:VERSION) or promote one to "${defaultAlias}" (with --force)`,
    );
  }
  return record;
}
