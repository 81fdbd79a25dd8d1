import type { BudgetOptions } from './dataplane/model-budget.ts';
import type { PayloadLogOptions } from './dataplane/payload-log.ts';
import type { BatchingOptions } from '../lib/batching.ts';
import { ConfigError } from '../lib/errors.ts';
import { type BatchingOverride, type LogLevel, type OrtLogLevel, type OrtSpinning, readSettings, type SettingName } from '../settings.ts';
import { parseProviderList, type ProviderName } from './dataplane/providers.ts';

export type { BatchingOptions } from '../lib/batching.ts';
export { batchingOverrideSchema, type BatchingOverride, LOG_LEVELS, ORT_LOG_LEVELS, type LogLevel, type OrtLogLevel } from '../settings.ts';

export interface ServeLimits {
  /** Rows (batch size) accepted in one request, both protocols. */
  maxRows: number;
  /** Request body size in bytes; larger bodies get 413. */
  bodyLimit: number;
  /** Body size of an admin model import (an ONNX file), in bytes. */
  importLimit: number;
}

export interface ServeConfig {
  host: string;
  port: number;
  /**
   * Port of the Open Inference Protocol gRPC server, on `host`; null: no gRPC server
   * (BNSERVE_GRPC_PORT=0). 0 here (programmatic only) binds a free port, like `port: 0`.
   */
  grpcPort: number | null;
  /** Limits of one gRPC connection; an incomplete call is cut after timeouts.requestMs, like an HTTP body. */
  grpc: GrpcLimits;
  providers: ProviderName[];
  adminToken: string | undefined;
  limits: ServeLimits;
  batching: BatchingOptions;
  /** Per-model overrides of `batching` (BNSERVE_MODEL_BATCHING; the admin API changes them at run time). */
  modelBatching: Record<string, BatchingOverride>;
  /** How often aliases are re-read from the registry; 0 disables the timer. */
  refreshIntervalMs: number;
  /** ORT intra-op threads per session; undefined lets onnxruntime choose. */
  intraOpThreads: number | undefined;
  /** When onnxruntime's thread pools spin while waiting for work (settings.ts, ORT_SPINNING). */
  ortSpinning: OrtSpinning;
  /** Each registry poll marks training runs without a heartbeat for this long as failed. */
  staleRunMs: number;
  /**
   * onnxruntime's own native logger. 'fatal' by default: a provider that fails to load (CUDA on a
   * machine without it) already throws, and bnserve logs that once in its own log.
   */
  ortLogLevel: OrtLogLevel;
  /** bnserve's own (pino) log level. */
  logLevel: LogLevel;
  timeouts: HttpTimeouts;
  /**
   * Open Inference Protocol input names are matched exactly even for single-input models. Off by
   * default: a single-input model takes its one input under any name, as KServe's runtimes do.
   */
  strictInputNames: boolean;
  /** Triton's strict readiness (true), or ready while every model serves some version for its default and aliases. */
  strictReadiness: boolean;
  /** Registry alias served when a request names no version or alias (BNSERVE_DEFAULT_ALIAS); unset alias: the latest version. */
  defaultAlias: string;
  /** Payload logging (null: off). */
  payloadLog: PayloadLogOptions | null;
  /** Response cache size in bytes (0: off) and the models that use it (null: every model). */
  responseCache: { maxBytes: number; models: string[] | null };
  /** Serving processes sharing the port (BNSERVE_WORKERS; `bnserve serve` forks them with node:cluster). */
  workers: number;
  /** Who may read training rows and server paths through the dashboard API (BNSERVE_DASHBOARD_RAW_DATA; auto: by HOST). */
  dashboardRawData: 'auto' | 'everyone' | 'admin';
  /** The memory budget (BNSERVE_MAX_LOADED_VERSIONS, BNSERVE_MODEL_MEMORY_MB as bytes, BNSERVE_MODEL_LOAD_WAIT_MS); 0: no limit. */
  modelBudget: BudgetOptions;
}

/** What one gRPC connection may hold (BNSERVE_GRPC_MAX_CONCURRENT_STREAMS, BNSERVE_GRPC_MAX_SESSION_MEMORY_MB). */
export interface GrpcLimits {
  maxConcurrentStreams: number;
  maxSessionMemoryMb: number;
  /** Server-wide bytes (MiB) of requests still arriving; undefined: 8 × the body limit. */
  incompleteRequestsMb: number | undefined;
}

/** What a slow or silent client may hold, and how long a shutdown may wait (milliseconds). */
export interface HttpTimeouts {
  /** From the connection (or the previous request) to the end of the request headers (node's headersTimeout). */
  headersMs: number;
  /** From the start of a request to its last body byte; a client still sending gets 408 and is cut off (requestTimeout). */
  requestMs: number;
  /** How long an idle keep-alive connection stays open between requests (keepAliveTimeout, advertised in Keep-Alive). */
  keepAliveMs: number;
  /** A socket with no traffic either way for this long is closed; 0 = never (Fastify's connectionTimeout). */
  connectionMs: number;
  /** On SIGTERM: how long to wait for in-flight requests and open connections before cutting them. */
  shutdownMs: number;
}

const SERVE_SETTINGS = [
  'HOST',
  'PORT',
  'BNSERVE_GRPC_PORT',
  'BNSERVE_GRPC_MAX_CONCURRENT_STREAMS',
  'BNSERVE_GRPC_MAX_SESSION_MEMORY_MB',
  'BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB',
  'BNSERVE_EXECUTION_PROVIDERS',
  'BNSERVE_ADMIN_TOKEN',
  'BNSERVE_MAX_ROWS',
  'BNSERVE_BODY_LIMIT_BYTES',
  'BNSERVE_MAX_IMPORT_MB',
  'BNSERVE_BATCHING',
  'BNSERVE_BATCH_MAX_ROWS',
  'BNSERVE_BATCH_MAX_QUEUE_DELAY_US',
  'BNSERVE_BATCH_PREFERRED_SIZES',
  'BNSERVE_MAX_QUEUE_SIZE',
  'BNSERVE_QUEUE_TIMEOUT_US',
  'BNSERVE_INSTANCE_COUNT',
  'BNSERVE_MODEL_BATCHING',
  'BNSERVE_REFRESH_MS',
  'BNSERVE_INTRA_OP_THREADS',
  'BNSERVE_ORT_SPINNING',
  'BNSERVE_STALE_RUN_SECONDS',
  'BNSERVE_ORT_LOG_LEVEL',
  'BNSERVE_LOG_LEVEL',
  'BNSERVE_HEADERS_TIMEOUT_MS',
  'BNSERVE_REQUEST_TIMEOUT_MS',
  'BNSERVE_KEEP_ALIVE_TIMEOUT_MS',
  'BNSERVE_CONNECTION_TIMEOUT_MS',
  'BNSERVE_SHUTDOWN_TIMEOUT_MS',
  'BNSERVE_STRICT_INPUT_NAMES',
  'BNSERVE_STRICT_READINESS',
  'BNSERVE_DEFAULT_ALIAS',
  'BNSERVE_RESPONSE_CACHE_MB',
  'BNSERVE_PAYLOAD_LOG',
  'BNSERVE_PAYLOAD_LOG_SAMPLE',
  'BNSERVE_PAYLOAD_LOG_MODELS',
  'BNSERVE_PAYLOAD_LOG_QUEUE',
  'BNSERVE_PAYLOAD_LOG_MAX_MB',
  'BNSERVE_RESPONSE_CACHE_MODELS',
  'BNSERVE_WORKERS',
  'BNSERVE_DASHBOARD_RAW_DATA',
  'BNSERVE_MAX_LOADED_VERSIONS',
  'BNSERVE_MODEL_MEMORY_MB',
  'BNSERVE_MODEL_LOAD_WAIT_MS',
] as const satisfies readonly SettingName[];

/** onnxruntime's session config entries for each BNSERVE_ORT_SPINNING value (flattened to "session.force_spinning_stop" etc.). */
const SPINNING_ENTRIES: Record<OrtSpinning, Record<string, unknown> | undefined> = {
  on: undefined,
  run: { session: { force_spinning_stop: '1' } },
  off: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

/**
 * The onnxruntime session options the settings ask for (undefined: onnxruntime's defaults). Pool
 * threads that spin between runs (`on`) poll for work they do not have: on 2 cores they competed
 * with the event loop and raised the server's CPU per request on the 784-wide MLP at 64 connections
 * from ~225 to ~400 µs, while sparing lone requests the wake-up of sleeping threads
 * (docs/benchmarks.md). `run` (the default) keeps spinning within a run, between the operators of one graph.
 */
export function ortSessionOptions(config: Pick<ServeConfig, 'intraOpThreads' | 'ortSpinning'>): OrtThreadOptions | undefined {
  const options: OrtThreadOptions = {};
  if (config.intraOpThreads !== undefined) options.intraOpNumThreads = config.intraOpThreads;
  const extra = SPINNING_ENTRIES[config.ortSpinning];
  if (extra) options.extra = extra;
  return Object.keys(options).length > 0 ? options : undefined;
}

/** The part of onnxruntime's SessionOptions that the serving settings control. */
export interface OrtThreadOptions {
  intraOpNumThreads?: number;
  /** Session config entries, flattened by onnxruntime to "session.intra_op.allow_spinning" etc. */
  extra?: Record<string, unknown>;
}

/** Reads the serving configuration from the environment (src/settings.ts); throws one readable error for bad values. */
export function serveConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const e = readSettings(SERVE_SETTINGS, env, 'serving configuration');
  const timeouts: HttpTimeouts = {
    headersMs: e.BNSERVE_HEADERS_TIMEOUT_MS,
    requestMs: e.BNSERVE_REQUEST_TIMEOUT_MS,
    keepAliveMs: e.BNSERVE_KEEP_ALIVE_TIMEOUT_MS,
    connectionMs: e.BNSERVE_CONNECTION_TIMEOUT_MS,
    shutdownMs: e.BNSERVE_SHUTDOWN_TIMEOUT_MS,
  };
  checkTimeouts(timeouts);
  return {
    host: e.HOST,
    port: e.PORT,
    // 0 turns gRPC off (PORT=0 means "any free port", which a gRPC port announced to clients cannot be).
    grpcPort: e.BNSERVE_GRPC_PORT === 0 ? null : e.BNSERVE_GRPC_PORT,
    grpc: {
      maxConcurrentStreams: e.BNSERVE_GRPC_MAX_CONCURRENT_STREAMS,
      maxSessionMemoryMb: e.BNSERVE_GRPC_MAX_SESSION_MEMORY_MB,
      incompleteRequestsMb: e.BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB,
    },
    providers: providersFromEnv(e.BNSERVE_EXECUTION_PROVIDERS),
    adminToken: e.BNSERVE_ADMIN_TOKEN,
    limits: { maxRows: e.BNSERVE_MAX_ROWS, bodyLimit: e.BNSERVE_BODY_LIMIT_BYTES, importLimit: e.BNSERVE_MAX_IMPORT_MB * 1024 * 1024 },
    batching: {
      enabled: e.BNSERVE_BATCHING,
      maxBatchSize: e.BNSERVE_BATCH_MAX_ROWS,
      maxQueueDelayMicroseconds: e.BNSERVE_BATCH_MAX_QUEUE_DELAY_US,
      preferredBatchSizes: e.BNSERVE_BATCH_PREFERRED_SIZES,
      maxQueueSize: e.BNSERVE_MAX_QUEUE_SIZE,
      queueTimeoutMicroseconds: e.BNSERVE_QUEUE_TIMEOUT_US,
      instanceCount: e.BNSERVE_INSTANCE_COUNT,
    },
    modelBatching: e.BNSERVE_MODEL_BATCHING,
    refreshIntervalMs: e.BNSERVE_REFRESH_MS,
    intraOpThreads: e.BNSERVE_INTRA_OP_THREADS,
    ortSpinning: e.BNSERVE_ORT_SPINNING,
    staleRunMs: e.BNSERVE_STALE_RUN_SECONDS * 1000,
    ortLogLevel: e.BNSERVE_ORT_LOG_LEVEL,
    logLevel: e.BNSERVE_LOG_LEVEL,
    timeouts,
    strictInputNames: e.BNSERVE_STRICT_INPUT_NAMES,
    strictReadiness: e.BNSERVE_STRICT_READINESS,
    defaultAlias: e.BNSERVE_DEFAULT_ALIAS,
    payloadLog: e.BNSERVE_PAYLOAD_LOG
      ? {
          target: e.BNSERVE_PAYLOAD_LOG,
          sample: e.BNSERVE_PAYLOAD_LOG_SAMPLE,
          models: e.BNSERVE_PAYLOAD_LOG_MODELS,
          queueSize: e.BNSERVE_PAYLOAD_LOG_QUEUE,
          maxFileBytes: e.BNSERVE_PAYLOAD_LOG_MAX_MB * 1024 * 1024,
        }
      : null,
    responseCache: {
      maxBytes: e.BNSERVE_RESPONSE_CACHE_MB * 1024 * 1024,
      models: e.BNSERVE_RESPONSE_CACHE_MODELS,
    },
    workers: e.BNSERVE_WORKERS,
    dashboardRawData: e.BNSERVE_DASHBOARD_RAW_DATA,
    modelBudget: {
      maxVersions: e.BNSERVE_MAX_LOADED_VERSIONS,
      memoryBytes: e.BNSERVE_MODEL_MEMORY_MB * 1024 * 1024,
      loadWaitMs: e.BNSERVE_MODEL_LOAD_WAIT_MS,
    },
  };
}

/** The configuration of an empty environment: every setting at its default. */
export const DEFAULT_SERVE_CONFIG: ServeConfig = serveConfigFromEnv({});
export const DEFAULT_BATCHING: BatchingOptions = DEFAULT_SERVE_CONFIG.batching;

/** node refuses a headers timeout longer than the request timeout (the request includes its headers). */
export function checkTimeouts(t: HttpTimeouts): void {
  if (t.headersMs > t.requestMs) {
    throw new ConfigError(
      `invalid serving configuration: BNSERVE_HEADERS_TIMEOUT_MS (${t.headersMs}) must not exceed BNSERVE_REQUEST_TIMEOUT_MS (${t.requestMs})`,
    );
  }
}

function providersFromEnv(text: string): ProviderName[] {
  try {
    return parseProviderList(text);
  } catch (err) {
    throw new ConfigError(`invalid serving configuration: BNSERVE_EXECUTION_PROVIDERS: ${(err as Error).message}`);
  }
}
