// `bnserve models list | show NAME | promote NAME VERSION [--alias A]`: each returns a human table
// (text) and a JSON object (json); src/cli.ts prints one of them.
import { formatTable } from './text-table.ts';
import { RegistryError, type ModelVersionRecord, type Registry } from '../registry/types.ts';
import { PRODUCTION_ALIAS } from '../lib/names.ts';

export interface CommandOutput {
  text: string;
  json: unknown;
}

function aliasList(aliases: Record<string, number>): string {
  const entries = Object.entries(aliases);
  return entries.length === 0 ? '-' : entries.map(([alias, version]) => `${alias}→${version}`).join(', ');
}

function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function versionJson(v: ModelVersionRecord) {
  return { ...v, createdAt: v.createdAt.toISOString() };
}

export async function modelsList(registry: Registry): Promise<CommandOutput> {
  const models = await registry.listModels();
  const text =
    models.length === 0
      ? 'no models registered yet (train one with `bnserve train --config examples/iris-bn.json`)'
      : formatTable(
          ['NAME', 'LATEST', 'VERSIONS', 'ALIASES'],
          models.map((m) => [m.name, String(m.latestVersion), String(m.versionCount), aliasList(m.aliases)]),
        );
  return { text, json: { models } };
}

export async function modelsShow(registry: Registry, name: string): Promise<CommandOutput> {
  const versions = await registry.listVersions(name);
  if (versions.length === 0) throw new RegistryError('not_found', `no model named ${name}`);
  const aliases: Record<string, number> = Object.fromEntries(versions.flatMap((v) => v.aliases.map((alias) => [alias, v.version])));
  const latest = versions[versions.length - 1];
  const table = formatTable(
    ['VERSION', 'ALIASES', 'CREATED', 'SHA256', 'SIZE', 'OPSET', 'FOLDED', 'PARITY', 'BN GUARD', 'RUN'],
    versions.map((v) => [
      String(v.version),
      v.aliases.join(',') || '-',
      v.createdAt.toISOString().replace(/\.\d+Z$/, 'Z'),
      v.artifactSha256.slice(0, 12),
      formatBytes(v.artifactSize),
      String(v.opset),
      v.folded ? 'yes' : 'no',
      v.parityMaxAbsDiff.toExponential(1),
      v.bnGuardWarning === null ? 'ok' : 'FLAGGED',
      v.runId ?? '-',
    ]),
  );
  const header = [
    `model ${name}: ${versions.length} version(s), aliases ${aliasList(aliases)}`,
    `task ${latest.task}; features ${latest.featureNames.join(', ') || '-'}` +
      (latest.classLabels.length > 0 ? `; classes ${latest.classLabels.join(', ')}` : ''),
    ...versions.filter((v) => v.bnGuardWarning !== null).map((v) => `version ${v.version} flagged by the BN guard: ${v.bnGuardWarning}`),
  ].join('\n');
  return { text: `${header}\n\n${table}`, json: { name, aliases, versions: versions.map(versionJson) } };
}

export async function modelsPromote(
  registry: Registry,
  name: string,
  version: number,
  alias = PRODUCTION_ALIAS,
  options: { force?: boolean } = {},
): Promise<CommandOutput> {
  const previous = await registry.getVersion(name, alias).catch(() => null);
  const promoted = await registry.promote(name, version, alias, options);
  const from = previous ? (previous.version === version ? ' (unchanged)' : ` (was version ${previous.version})`) : ' (new alias)';
  return {
    text: `${name}: ${alias} → version ${promoted.version}${from}`,
    json: { name, alias, version: promoted.version, previousVersion: previous?.version ?? null, model: versionJson(promoted) },
  };
}
