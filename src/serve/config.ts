import { z } from 'zod';
import { parseProviderList, type ProviderName } from './providers.ts';

export interface ServeLimits {
  /** Rows (batch size) accepted in one request, both protocols. */
  maxRows: number;
  /** Request body size in bytes; larger bodies get 413. */
  bodyLimit: number;
}

// ---- Dynamic batching and model instances (Triton's dynamic_batching / instance_group) ----

/** Per-model scheduling: server-wide defaults from the environment, overridable per model. */
export interface BatchingOptions {
  /** Off: every request runs alone (still through the bounded queue). On: queued requests are merged. */
  enabled: boolean;
  /** Upper bound on rows merged into one onnxruntime run. */
  maxBatchSize: number;
  /** How long the oldest queued request may wait for company; 0 = never wait (run at once when an instance is free). */
  maxQueueDelayMicroseconds: number;
  /** Batch sizes to dispatch at as soon as they are reached (within the delay). Empty: none. */
  preferredBatchSizes: number[];
  /** Requests waiting per model version; one more gets 503 with Retry-After. */
  maxQueueSize: number;
  /** A queued request not started within this gets 503; 0 = no limit. A request may ask for less (parameters.timeout). */
  queueTimeoutMicroseconds: number;
  /** Concurrent onnxruntime runs per model version: 1 runs on the main thread, N > 1 in N worker threads. */
  instanceCount: number;
}

export const DEFAULT_BATCHING: BatchingOptions = {
  enabled: true,
  maxBatchSize: 512,
  maxQueueDelayMicroseconds: 0,
  preferredBatchSizes: [],
  maxQueueSize: 1024,
  queueTimeoutMicroseconds: 0,
  instanceCount: 1,
};

const batchingOverride = z
  .object({
    enabled: z.boolean(),
    maxBatchSize: z.number().int().min(1).max(1_000_000),
    maxQueueDelayMicroseconds: z.number().int().min(0).max(10_000_000),
    preferredBatchSizes: z.array(z.number().int().min(1).max(1_000_000)).max(32),
    maxQueueSize: z.number().int().min(1).max(1_000_000),
    queueTimeoutMicroseconds: z.number().int().min(0).max(3_600_000_000),
    instanceCount: z.number().int().min(1).max(64),
  })
  .partial()
  .strict();
/** One model's override of the server-wide batching settings (what BNSERVE_MODEL_BATCHING and the admin API take). */
export const batchingOverrideSchema = batchingOverride;
export type BatchingOverride = z.infer<typeof batchingOverride>;

const shown = (input: unknown) => JSON.stringify(input);
const intFrom = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, { error: (i) => `must be a whole number from ${min} to ${max} (got ${shown(i.input)})` })
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));
const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (i) => `must be one of ${values.join(', ')} (got ${shown(i.input)})` });
const FLAG_VALUES = ['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'] as const;
const flag = oneOf(FLAG_VALUES).transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

const batchingEnv = {
  BNSERVE_BATCHING: flag,
  BNSERVE_BATCH_MAX_ROWS: z.coerce.number().int().min(1).max(1_000_000),
  BNSERVE_BATCH_MAX_QUEUE_DELAY_US: z.coerce.number().int().min(0).max(10_000_000),
  BNSERVE_BATCH_PREFERRED_SIZES: z
    .string()
    .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'a comma-separated list of positive integers')
    .transform((s) => s.split(',').map(Number)),
  BNSERVE_MAX_QUEUE_SIZE: z.coerce.number().int().min(1).max(1_000_000),
  BNSERVE_QUEUE_TIMEOUT_US: z.coerce.number().int().min(0).max(3_600_000_000),
  BNSERVE_INSTANCE_COUNT: z.coerce.number().int().min(1).max(64),
  /** JSON object: model name → BatchingOverride, e.g. {"mnist": {"maxQueueDelayMicroseconds": 500}}. */
  BNSERVE_MODEL_BATCHING: z.string().transform((text, ctx) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'not valid JSON (expected {"model": {"maxBatchSize": 64, ...}})' });
      return z.NEVER;
    }
    const parsed = z.record(z.string(), batchingOverride).safeParse(value);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
      return z.NEVER;
    }
    return parsed.data;
  }),
};

function batchingFromEnv(e: { [K in keyof typeof batchingEnv]?: z.infer<(typeof batchingEnv)[K]> }): {
  batching: BatchingOptions;
  modelBatching: Record<string, BatchingOverride>;
} {
  const d = DEFAULT_BATCHING;
  return {
    batching: {
      enabled: e.BNSERVE_BATCHING ?? d.enabled,
      maxBatchSize: e.BNSERVE_BATCH_MAX_ROWS ?? d.maxBatchSize,
      maxQueueDelayMicroseconds: e.BNSERVE_BATCH_MAX_QUEUE_DELAY_US ?? d.maxQueueDelayMicroseconds,
      preferredBatchSizes: e.BNSERVE_BATCH_PREFERRED_SIZES ?? d.preferredBatchSizes,
      maxQueueSize: e.BNSERVE_MAX_QUEUE_SIZE ?? d.maxQueueSize,
      queueTimeoutMicroseconds: e.BNSERVE_QUEUE_TIMEOUT_US ?? d.queueTimeoutMicroseconds,
      instanceCount: e.BNSERVE_INSTANCE_COUNT ?? d.instanceCount,
    },
    modelBatching: e.BNSERVE_MODEL_BATCHING ?? {},
  };
}

// ---- end of batching settings ----

export interface ServeConfig {
  host: string;
  port: number;
  /**
   * Port of the Open Inference Protocol gRPC server, on `host`; null: no gRPC server
   * (BNSERVE_GRPC_PORT=0). 0 here (programmatic only) binds a free port, like `port: 0`.
   */
  grpcPort: number | null;
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

export const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;
export type OrtLogLevel = (typeof ORT_LOG_LEVELS)[number];
/** pino's levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * A bad serving setting in the environment. Named 'ConfigError' so that the CLI reports it like
 * the trainer's config errors: the message alone, exit code 2.
 */
export class ServeConfigError extends Error {
  override name = 'ConfigError';
}

/** Same value as STALE_RUN_MS in src/registry/index.ts, which src/serve does not import (it loads Prisma). */
export const DEFAULT_STALE_RUN_MS = 30_000;

export const DEFAULT_SERVE_CONFIG: ServeConfig = {
  host: '127.0.0.1',
  port: 8080,
  grpcPort: 8081,
  providers: ['cuda', 'cpu'],
  adminToken: undefined,
  limits: { maxRows: 1024, bodyLimit: 4 * 1024 * 1024 },
  batching: DEFAULT_BATCHING,
  modelBatching: {},
  refreshIntervalMs: 5000,
  intraOpThreads: undefined,
  staleRunMs: DEFAULT_STALE_RUN_MS,
  ortLogLevel: 'fatal',
  logLevel: 'info',
  timeouts: { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, connectionMs: 60_000, shutdownMs: 15_000 },
  strictInputNames: false,
};

const HOUR_MS = 3600 * 1000;

const envSchema = z.object({
  HOST: z.string().min(1).optional(),
  PORT: intFrom(0, 65535).optional(),
  // 0 turns gRPC off (PORT=0 means "any free port", which a gRPC port announced to clients cannot be).
  BNSERVE_GRPC_PORT: intFrom(0, 65535).optional(),
  BNSERVE_EXECUTION_PROVIDERS: z.string().optional(),
  BNSERVE_ADMIN_TOKEN: z.string().optional(),
  BNSERVE_MAX_ROWS: intFrom(1, 1_000_000).optional(),
  BNSERVE_BODY_LIMIT_BYTES: intFrom(1024, 1024 * 1024 * 1024).optional(),
  ...Object.fromEntries(Object.entries(batchingEnv).map(([k, v]) => [k, v.optional()])),
  BNSERVE_REFRESH_MS: intFrom(0, 24 * 3600 * 1000).optional(),
  BNSERVE_INTRA_OP_THREADS: intFrom(1, 1024).optional(),
  // Same rule as staleRunMs() in src/registry/index.ts, which reads it at startup (keep well above the 5 s heartbeat).
  BNSERVE_STALE_RUN_SECONDS: z.coerce
    .number({ error: (i) => `must be a number of seconds above 0 (got ${shown(i.input)})` })
    .positive('must be a number of seconds above 0')
    .optional(),
  BNSERVE_ORT_LOG_LEVEL: oneOf(ORT_LOG_LEVELS).optional(),
  BNSERVE_LOG_LEVEL: oneOf(LOG_LEVELS).optional(),
  BNSERVE_HEADERS_TIMEOUT_MS: intFrom(100, HOUR_MS).optional(),
  BNSERVE_REQUEST_TIMEOUT_MS: intFrom(100, HOUR_MS).optional(),
  // Node clients reuse a connection only while more than 1 s of its advertised timeout is left.
  BNSERVE_KEEP_ALIVE_TIMEOUT_MS: intFrom(2000, HOUR_MS).optional(),
  BNSERVE_CONNECTION_TIMEOUT_MS: intFrom(0, HOUR_MS).optional(),
  BNSERVE_SHUTDOWN_TIMEOUT_MS: intFrom(0, HOUR_MS).optional(),
  BNSERVE_STRICT_INPUT_NAMES: flag.optional(),
});

/** Reads the serving configuration from the environment; throws one readable error for bad values. */
export function serveConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ServeConfig {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ServeConfigError(`invalid serving configuration: ${detail}`);
  }
  const e = parsed.data as z.infer<typeof envSchema> & Parameters<typeof batchingFromEnv>[0];
  const d = DEFAULT_SERVE_CONFIG;
  const timeouts: HttpTimeouts = {
    headersMs: e.BNSERVE_HEADERS_TIMEOUT_MS ?? d.timeouts.headersMs,
    requestMs: e.BNSERVE_REQUEST_TIMEOUT_MS ?? d.timeouts.requestMs,
    keepAliveMs: e.BNSERVE_KEEP_ALIVE_TIMEOUT_MS ?? d.timeouts.keepAliveMs,
    connectionMs: e.BNSERVE_CONNECTION_TIMEOUT_MS ?? d.timeouts.connectionMs,
    shutdownMs: e.BNSERVE_SHUTDOWN_TIMEOUT_MS ?? d.timeouts.shutdownMs,
  };
  checkTimeouts(timeouts);
  return {
    host: e.HOST ?? d.host,
    port: e.PORT ?? d.port,
    grpcPort: e.BNSERVE_GRPC_PORT === undefined ? d.grpcPort : e.BNSERVE_GRPC_PORT === 0 ? null : e.BNSERVE_GRPC_PORT,
    providers: e.BNSERVE_EXECUTION_PROVIDERS !== undefined ? providersFromEnv(e.BNSERVE_EXECUTION_PROVIDERS) : d.providers,
    adminToken: e.BNSERVE_ADMIN_TOKEN,
    limits: {
      maxRows: e.BNSERVE_MAX_ROWS ?? d.limits.maxRows,
      bodyLimit: e.BNSERVE_BODY_LIMIT_BYTES ?? d.limits.bodyLimit,
    },
    ...batchingFromEnv(e),
    refreshIntervalMs: e.BNSERVE_REFRESH_MS ?? d.refreshIntervalMs,
    intraOpThreads: e.BNSERVE_INTRA_OP_THREADS ?? d.intraOpThreads,
    staleRunMs: e.BNSERVE_STALE_RUN_SECONDS !== undefined ? e.BNSERVE_STALE_RUN_SECONDS * 1000 : d.staleRunMs,
    ortLogLevel: e.BNSERVE_ORT_LOG_LEVEL ?? d.ortLogLevel,
    logLevel: e.BNSERVE_LOG_LEVEL ?? d.logLevel,
    timeouts,
    strictInputNames: e.BNSERVE_STRICT_INPUT_NAMES ?? d.strictInputNames,
  };
}

/** node refuses a headers timeout longer than the request timeout (the request includes its headers). */
export function checkTimeouts(t: HttpTimeouts): void {
  if (t.headersMs > t.requestMs) {
    throw new ServeConfigError(
      `invalid serving configuration: BNSERVE_HEADERS_TIMEOUT_MS (${t.headersMs}) must not exceed BNSERVE_REQUEST_TIMEOUT_MS (${t.requestMs})`,
    );
  }
}

function providersFromEnv(text: string): ProviderName[] {
  try {
    return parseProviderList(text);
  } catch (err) {
    throw new ServeConfigError(`invalid serving configuration: BNSERVE_EXECUTION_PROVIDERS: ${(err as Error).message}`);
  }
}
