import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Registry } from '../registry/types.ts';
import type { OrtSpinning } from '../settings.ts';
import { bnserveApp } from './http/app.ts';
import {
  checkTimeouts,
  serveConfigFromEnv,
  type BatchingOptions,
  type BatchingOverride,
  type ServeConfig,
  type ServeLimits,
} from './config.ts';
import { drainConnections } from './http/drain.ts';
import { type GrpcEndpoint, startGrpcServer } from './grpc/server.ts';
import { clientErrorHandler, frameworkErrorHandler } from './http/plugins/errors.ts';
import { parseProviderList, setOrtLogLevel } from './dataplane/providers.ts';
import { lazyChildLoggerFactory } from './http/lazy-logger.ts';
import { requestLogSink, serveLoggerOptions } from './http/request-log.ts';

export { serveConfigFromEnv, type ServeConfig } from './config.ts';
export { ModelManager } from './dataplane/model-manager.ts';
export { setOrtLogLevel, createSessionWithFallback, parseProviderList, ProviderChain, EXECUTION_PROVIDERS } from './dataplane/providers.ts';

export interface BuildAppOptions {
  registry: Registry;
  /** Execution providers in order of preference, e.g. ['cuda', 'cpu'] (default: BNSERVE_EXECUTION_PROVIDERS or cuda,cpu). */
  providers?: string[];
  /** Enables the admin routes (default: BNSERVE_ADMIN_TOKEN). */
  adminToken?: string;
  /** true, false or pino options (default false for buildApp, info level for startServer). */
  logger?: boolean | object;
  limits?: Partial<ServeLimits>;
  batching?: Partial<BatchingOptions>;
  /** Per-model batching overrides (default: BNSERVE_MODEL_BATCHING). */
  modelBatching?: Record<string, BatchingOverride>;
  refreshIntervalMs?: number;
  intraOpThreads?: number;
  /** When onnxruntime's threads spin while waiting (default: BNSERVE_ORT_SPINNING, run). */
  ortSpinning?: OrtSpinning;
  /** Training runs without a heartbeat for this long are marked failed on each poll (default: BNSERVE_STALE_RUN_SECONDS or 30 s). */
  staleRunMs?: number;
  timeouts?: Partial<ServeConfig['timeouts']>;
  strictInputNames?: boolean;
  /** Default: BNSERVE_STRICT_READINESS (true). */
  strictReadiness?: boolean;
  /** Default: the BNSERVE_PAYLOAD_LOG settings (off); null turns it off. */
  payloadLog?: ServeConfig['payloadLog'];
  /** Default: BNSERVE_RESPONSE_CACHE_MB and BNSERVE_RESPONSE_CACHE_MODELS (off). */
  responseCache?: ServeConfig['responseCache'];
  /** Default: BNSERVE_MAX_LOADED_VERSIONS, BNSERVE_MODEL_MEMORY_MB, BNSERVE_MODEL_LOAD_WAIT_MS (no budget); fields given replace them. */
  modelBudget?: Partial<ServeConfig['modelBudget']>;
  /** Environment that supplies defaults (default process.env); tests pass {}. */
  env?: NodeJS.ProcessEnv;
  extend?: (app: FastifyInstance) => Promise<void> | void;
  /**
   * Load and warm the models in `app.ready()` (default true: an app built for inject is ready to
   * answer). startServer sets false: it listens first and loads after, so liveness answers at once.
   */
  loadModelsOnReady?: boolean;
}

export function resolveServeConfig(
  opts: Omit<BuildAppOptions, 'registry'> & { host?: string; port?: number; grpcPort?: number | null },
): ServeConfig {
  const env = opts.env ?? process.env;
  const base = serveConfigFromEnv(env);
  const port = opts.port ?? base.port;
  const config: ServeConfig = {
    host: opts.host ?? base.host,
    port,
    // A server on a free HTTP port (tests, benchmarks) takes a free gRPC port too, not the fixed default.
    grpcPort: opts.grpcPort !== undefined ? opts.grpcPort : port === 0 && !env.BNSERVE_GRPC_PORT ? 0 : base.grpcPort,
    grpc: base.grpc,
    providers: opts.providers ? parseProviderList(opts.providers.join(',')) : base.providers,
    adminToken: opts.adminToken ?? base.adminToken,
    limits: { ...base.limits, ...opts.limits },
    batching: { ...base.batching, ...opts.batching },
    modelBatching: opts.modelBatching ?? base.modelBatching,
    refreshIntervalMs: opts.refreshIntervalMs ?? base.refreshIntervalMs,
    intraOpThreads: opts.intraOpThreads ?? base.intraOpThreads,
    ortSpinning: opts.ortSpinning ?? base.ortSpinning,
    staleRunMs: opts.staleRunMs ?? base.staleRunMs,
    ortLogLevel: base.ortLogLevel,
    logLevel: base.logLevel,
    timeouts: { ...base.timeouts, ...opts.timeouts },
    strictInputNames: opts.strictInputNames ?? base.strictInputNames,
    strictReadiness: opts.strictReadiness ?? base.strictReadiness,
    defaultAlias: base.defaultAlias,
    responseCache: opts.responseCache ?? base.responseCache,
    payloadLog: opts.payloadLog !== undefined ? opts.payloadLog : base.payloadLog,
    workers: base.workers,
    dashboardRawData: base.dashboardRawData,
    modelBudget: { ...base.modelBudget, ...opts.modelBudget },
  };
  checkTimeouts(config.timeouts);
  return config;
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/** Builds the Fastify app (not listening). Call `await app.ready()` or `inject` to load models. */
export async function buildApp(opts: BuildAppOptions): Promise<FastifyInstance> {
  const config = resolveServeConfig(opts);
  setOrtLogLevel(config.ortLogLevel);
  const t = config.timeouts;
  const app = Fastify({
    logger: opts.logger ?? false,
    // One line per request instead of two, written by the request-log hook (http/request-log.ts).
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: lazyChildLoggerFactory,
    bodyLimit: config.limits.bodyLimit,
    // Slow or silent clients are cut off (408) instead of holding a socket forever; node checks
    // these every connectionsCheckingInterval, so keep that short.
    http: { headersTimeout: t.headersMs, connectionsCheckingInterval: Math.min(1000, t.headersMs) },
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    connectionTimeout: t.connectionMs,
    routerOptions: { maxParamLength: 256 },
    // Errors raised before routing (bad percent-encoding, over-long segments, malformed HTTP)
    // get the same {"error": message} body as every other 4xx.
    frameworkErrors: frameworkErrorHandler,
    clientErrorHandler,
    // Echo a caller's X-Request-Id when it is sane, else make one up.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
  });
  await app.register(bnserveApp, {
    registry: opts.registry,
    config,
    extend: opts.extend,
    loadModelsOnReady: opts.loadModelsOnReady ?? true,
    requestLogSink: requestLogSink(opts.logger),
  });
  return app;
}

export interface StartServerOptions extends BuildAppOptions {
  host?: string;
  port?: number;
  /**
   * Port of the Open Inference Protocol gRPC server (default: BNSERVE_GRPC_PORT, 8081, off when 0);
   * 0 here binds a free port (as does leaving it unset with `port: 0`), null turns gRPC off.
   */
  grpcPort?: number | null;
  /** Called once HTTP (and gRPC) listen, before the models are loaded: liveness answers from then on, readiness once they are. */
  onListening?: (server: { url: string; grpcAddress: string | null }) => void;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** "host:port" of the gRPC server, for a gRPC client; null when gRPC is off. */
  grpcAddress: string | null;
  /**
   * Drains, then releases every session: stops accepting connections and gRPC calls, answers
   * in-flight requests (with "Connection: close") and calls, waits for keep-alive connections to
   * close by themselves (at most BNSERVE_SHUTDOWN_TIMEOUT_MS), then closes the app.
   */
  close(): Promise<void>;
}

/**
 * Builds the app, listens (HOST/PORT, default 127.0.0.1:8080; and gRPC), then loads and warms the
 * models: `/v2/health/live` answers while they load, `/v2/health/ready` once they are served.
 * Resolves when the first load is done.
 */
export async function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const config = resolveServeConfig(opts);
  const app = await buildApp({ ...opts, logger: opts.logger ?? serveLoggerOptions(config.logLevel), loadModelsOnReady: false });
  try {
    await app.listen({ host: config.host, port: config.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const host = config.host.includes(':') ? `[${config.host}]` : config.host;
  let grpc: GrpcEndpoint | null = null;
  if (config.grpcPort !== null) {
    try {
      grpc = await startGrpcServer(app.dataPlane, config.host, config.grpcPort);
    } catch (err) {
      await app.close();
      throw err;
    }
    app.log.info({ address: grpc.address }, 'gRPC (Open Inference Protocol) listening');
  }
  let closing: Promise<void> | null = null;
  const server: RunningServer = {
    app,
    url: `http://${host}:${port}`,
    grpcAddress: grpc?.address ?? null,
    close: () => (closing ??= drainThenClose(app, grpc, config.timeouts.shutdownMs)),
  };
  opts.onListening?.({ url: server.url, grpcAddress: server.grpcAddress });
  try {
    await app.dataPlane.start();
  } catch (err) {
    await server.close();
    throw err;
  }
  return server;
}

async function drainThenClose(app: FastifyInstance, grpc: GrpcEndpoint | null, timeoutMs: number): Promise<void> {
  app.lifecycle.draining = true;
  app.log.info({ timeoutMs }, 'shutting down: no new connections; answering in-flight requests');
  const [{ forced }, grpcDrain] = await Promise.all([drainConnections(app.server, timeoutMs), grpc?.drain(timeoutMs)]);
  if (forced > 0) app.log.warn({ connections: forced, timeoutMs }, 'shutdown timeout reached: remaining connections were cut');
  if (grpcDrain?.forced) app.log.warn({ timeoutMs }, 'shutdown timeout reached: remaining gRPC calls were cancelled');
  await app.close();
}
