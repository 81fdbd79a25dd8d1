import { openRegistry, SERVER_SQLITE_BUSY_TIMEOUT_MS } from '../registry/index.ts';
import { serveRegistry, curlExamples } from './serve.ts';
import type { ServeCommandOptions } from './serve.ts';

/** `npm start`: migrate, train the example if the registry is empty, then serve with a ready curl line. */
export async function runStartCommand(options: ServeCommandOptions & { config: string }): Promise<void> {
  // Check the serving settings before a long training run, and set onnxruntime's log level before
  // the exporter's parity check starts its environment (the level is read only once).
  const { serveConfigFromEnv, setOrtLogLevel } = await import('../serve/index.ts');
  setOrtLogLevel(serveConfigFromEnv().ortLogLevel);
  const registry = await openRegistry({ busyTimeoutMs: SERVER_SQLITE_BUSY_TIMEOUT_MS });
  const models = await registry.listModels();
  if (models.length === 0) {
    process.stdout.write(`no model registered yet: training ${options.config}\n`);
    const { runTrainCommand } = await import('./train.ts');
    const { describeTraining } = await import('./describe.ts');
    const result = await runTrainCommand({ config: options.config, export: true }, registry);
    process.stdout.write(`${describeTraining(result)}\n`);
  }
  const [first] = await registry.listModels();
  const version = await registry.getVersion(first.name);
  await serveRegistry(registry, options, async (url) => {
    const example = version?.featureNames.length ? version.featureNames.map(() => 1) : [];
    const row = version?.name === 'iris' ? [5.1, 3.5, 1.4, 0.2] : example;
    return [`bnserve listening on ${url}`, 'try:', curlExamples(url, first.name, version?.featureNames ?? [], row)].join('\n');
  });
}
