import { openRegistry, SERVER_SQLITE_BUSY_TIMEOUT_MS } from '../registry/index.ts';
import { RegistryError, type Registry } from '../registry/types.ts';
import { PRODUCTION_ALIAS } from '../lib/names.ts';
import { withTracing } from '../tracing/tracing.ts';
import { checkServePorts, serveRegistry, curlExamples } from './serve.ts';
import type { ServeCommandOptions } from './serve.ts';

/** `npm start`: migrate, train the example if the registry is empty, then serve with a ready curl line (one tracing setup for both). */
export function runStartCommand(options: ServeCommandOptions & { config: string }): Promise<void> {
  return withTracing(() => trainIfEmptyThenServe(options));
}

async function trainIfEmptyThenServe(options: ServeCommandOptions & { config: string }): Promise<void> {
  // Check the serving settings before a long training run, and set onnxruntime's log level before
  // the exporter's parity check starts its environment (the level is read only once).
  const { serveConfigFromEnv, setOrtLogLevel } = await import('../serve/index.ts');
  setOrtLogLevel(serveConfigFromEnv().ortLogLevel);
  // A taken port is found now, not after a training run and a migration.
  await checkServePorts(options);
  const registry = await openRegistry({ busyTimeoutMs: SERVER_SQLITE_BUSY_TIMEOUT_MS });
  const models = await registry.listModels();
  if (models.length === 0) {
    process.stdout.write(`no model registered yet: training ${options.config}\n`);
    const { runTrainCommand } = await import('./train.ts');
    const { describeTraining } = await import('./describe.ts');
    const result = await runTrainCommand({ config: options.config, export: true }, registry);
    process.stdout.write(`${describeTraining(result)}\n`);
    if (result.model) await promoteFirstVersion(registry, result.model.name, result.model.version);
  }
  const [first] = await registry.listModels();
  const version = await registry.getVersion(first.name);
  const alias = first.aliases[PRODUCTION_ALIAS] !== undefined ? PRODUCTION_ALIAS : undefined;
  await serveRegistry(registry, options, async (url) => {
    const example = version?.featureNames.length ? version.featureNames.map(() => 1) : [];
    const row = version?.name === 'iris' ? [5.1, 3.5, 1.4, 0.2] : example;
    return [
      `bnserve listening on ${url}`,
      'try:',
      curlExamples(url, first.name, version?.featureNames ?? [], row, alias),
      `dashboard: ${url}/ui/ (its JSON API under ${url}/api/, documented at ${url}/docs)`,
    ].join('\n');
  });
}

/**
 * The version `start` trained becomes `production`, so that the README's …/labels/production
 * examples answer. Never forced: a version the BN guard flagged stays unpromoted (and says so).
 */
async function promoteFirstVersion(registry: Registry, name: string, version: number): Promise<void> {
  try {
    await registry.promote(name, version, PRODUCTION_ALIAS);
    process.stdout.write(`promoted ${name} version ${version} to "${PRODUCTION_ALIAS}"\n`);
  } catch (error) {
    if (!(error instanceof RegistryError && error.code === 'refused')) throw error;
    process.stdout.write(`not promoted to "${PRODUCTION_ALIAS}": ${error.message}\n`);
  }
}
