import { createServer } from 'node:net';
import { ConfigError } from '../lib/errors.ts';
import type { Registry } from '../registry/types.ts';
import { staleRunMs } from '../registry/index.ts';
import { assertModelName } from '../registry/validation.ts';
import { readTracingConfig } from '../tracing/config.ts';
import { withTracing } from '../tracing/tracing.ts';
import { readSettings } from '../settings.ts';

export interface ServeCommandOptions {
  /** Default: the HOST setting. */
  host?: string;
  /** Default: the PORT setting. */
  port?: number;
  /** KServe-native mode: serve the ONNX model(s) of this folder under modelName, no registry database. */
  modelDir?: string;
  modelName?: string;
}

/** Ready-to-paste requests; the alias line only when the model has that alias (a 404 otherwise). */
export function curlExamples(url: string, model: string, featureNames: string[], row: number[], alias?: string): string {
  const object = Object.fromEntries(featureNames.map((name, i) => [name, row[i]]));
  const objectPath = alias ? `${model}/labels/${alias}` : model;
  return [
    `curl -s ${url}/v1/models/${model}:predict -H 'content-type: application/json' -d '${JSON.stringify({ instances: [row] })}'`,
    `curl -s ${url}/v1/models/${objectPath}:predict -H 'content-type: application/json' -d '${JSON.stringify({ instances: [object] })}'`,
    `curl -s ${url}/v2/models/${model}/infer -H 'content-type: application/json' -d '${JSON.stringify({
      inputs: [{ name: 'input', shape: [1, row.length], datatype: 'FP32', data: row }],
    })}'`,
  ].join('\n');
}

/**
 * Serves until SIGTERM/SIGINT, then stops accepting, drains in-flight requests and exits 0; traced
 * when OTEL_TRACES_EXPORTER says so (the last spans are exported after the drain).
 */
export function serveRegistry(registry: Registry, options: ServeCommandOptions, banner?: (url: string) => Promise<string>) {
  return withTracing(() => serveUntilSignal(registry, options, banner));
}

async function serveUntilSignal(registry: Registry, options: ServeCommandOptions, banner?: (url: string) => Promise<string>) {
  const { startServer } = await import('../serve/index.ts');
  await registry.failStaleRuns(staleRunMs());
  const server = await startServer({ registry, host: options.host, port: options.port });
  if (banner) process.stdout.write(`${await banner(server.url)}\n`);
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  process.stdout.write(`bnserve: ${signal} received: no new connections, finishing in-flight requests\n`);
  await server.close();
  await registry.close();
}

/** Resolves to the error of listening on host:port, or null once a trial listener has bound and closed again. */
function listenError(host: string, port: number): Promise<Error | null> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', resolve);
    probe.listen({ host, port }, () => probe.close(() => resolve(null)));
  });
}

/**
 * A port that is taken (another bnserve on the default gRPC port…) is reported on one line naming
 * the setting to change, before the registry is opened or migrated. The servers themselves bind
 * only after the models load; a gRPC port taken in between fails then with the same line.
 */
export async function checkServePorts(options: ServeCommandOptions): Promise<void> {
  const { resolveServeConfig } = await import('../serve/index.ts');
  const { grpcBindFailure, listenFailureReason } = await import('../serve/grpc/server.ts');
  // The ports exactly as startServer resolves them (a free HTTP port and no BNSERVE_GRPC_PORT: a free gRPC port).
  const { host, port, grpcPort } = resolveServeConfig({ host: options.host, port: options.port });
  if (port !== 0) {
    const err = await listenError(host, port);
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    if (err) throw new ConfigError(`cannot serve HTTP on ${address}: ${listenFailureReason(err)}; set PORT (or --port) to a free port`);
  }
  if (grpcPort) {
    const err = await listenError(host, grpcPort);
    if (err) throw new ConfigError(grpcBindFailure(host, grpcPort, err));
  }
}

/** The registry a server reads: the model folder in KServe-native mode, else the database. */
async function openServedRegistry(options: ServeCommandOptions, migrate: boolean, worker: boolean): Promise<Registry> {
  if (options.modelDir !== undefined || options.modelName !== undefined) {
    if (options.modelDir === undefined || options.modelName === undefined) {
      throw new ConfigError(
        '--model-dir and --model-name go together (KServe passes both: --model-name={{.Name}} --model-dir=/mnt/models)',
      );
    }
    try {
      assertModelName(options.modelName);
    } catch (error) {
      throw new ConfigError(`--model-name: ${(error as Error).message}`);
    }
    const { openModelDirectory } = await import('../model-dir/model-directory.ts');
    return openModelDirectory({ dir: options.modelDir, modelName: options.modelName });
  }
  const { openRegistry, SERVER_SQLITE_BUSY_TIMEOUT_MS } = await import('../registry/index.ts');
  // Without BNSERVE_MIGRATE_ON_START the server never changes the schema, nor creates a database.
  return openRegistry({
    busyTimeoutMs: SERVER_SQLITE_BUSY_TIMEOUT_MS,
    migrate: migrate && !worker,
    createDatabase: worker || !migrate ? 'never' : undefined,
  });
}

export async function runServeCommand(options: ServeCommandOptions): Promise<void> {
  const { openRegistry } = await import('../registry/index.ts');
  const { serveConfigFromEnv } = await import('../serve/index.ts');
  const { workers } = serveConfigFromEnv(); // a bad setting is reported before the registry is opened or migrated
  readTracingConfig(); // tracing's too (each serving process starts its own, in serveRegistry)
  const { isClusterWorker, leaveClusterAfterFailure, runServePrimary } = await import('./serve-cluster.ts');
  // The primary checks for the workers, which share its ports.
  if (!isClusterWorker()) await checkServePorts(options);
  const migrate = readSettings(['BNSERVE_MIGRATE_ON_START']).BNSERVE_MIGRATE_ON_START;
  if (workers > 1 && !isClusterWorker()) {
    // Migrate once here, so that the workers only open the registry.
    if (migrate && options.modelDir === undefined) await (await openRegistry()).close();
    await runServePrimary(workers, (line) => process.stdout.write(`${line}\n`));
    return;
  }
  try {
    const registry = await openServedRegistry(options, migrate, isClusterWorker());
    await serveRegistry(
      registry,
      options,
      async (url) => `bnserve listening on ${url}${isClusterWorker() ? ` (process ${process.pid})` : ''}`,
    );
  } catch (err) {
    if (isClusterWorker()) leaveClusterAfterFailure();
    throw err;
  }
  // Drained: a worker's IPC channel to the primary is all that keeps it alive now.
  if (isClusterWorker()) process.disconnect?.();
}
