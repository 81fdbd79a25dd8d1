import { z } from 'zod';
import { parseProviderList, type ProviderName } from './providers.ts';

export interface ServeLimits {
  /** Rows (batch size) accepted in one request, both protocols. */
  maxRows: number;
  /** Request body size in bytes; larger bodies get 413. */
  bodyLimit: number;
}

export interface BatchingOptions {
  /** Off: every request runs alone. On: requests that arrive while a run is busy are merged. */
  enabled: boolean;
  /** Upper bound on rows merged into one run. */
  maxRows: number;
}

export interface ServeConfig {
  host: string;
  port: number;
  providers: ProviderName[];
  adminToken: string | undefined;
  limits: ServeLimits;
  batching: BatchingOptions;
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
  providers: ['cuda', 'cpu'],
  adminToken: undefined,
  limits: { maxRows: 1024, bodyLimit: 4 * 1024 * 1024 },
  batching: { enabled: true, maxRows: 512 },
  refreshIntervalMs: 5000,
  intraOpThreads: undefined,
  staleRunMs: DEFAULT_STALE_RUN_MS,
  ortLogLevel: 'fatal',
  logLevel: 'info',
  timeouts: { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 5_000, connectionMs: 60_000, shutdownMs: 15_000 },
  strictInputNames: false,
};

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
const HOUR_MS = 3600 * 1000;

const envSchema = z.object({
  HOST: z.string().min(1).optional(),
  PORT: intFrom(0, 65535).optional(),
  BNSERVE_EXECUTION_PROVIDERS: z.string().optional(),
  BNSERVE_ADMIN_TOKEN: z.string().optional(),
  BNSERVE_MAX_ROWS: intFrom(1, 1_000_000).optional(),
  BNSERVE_BODY_LIMIT_BYTES: intFrom(1024, 1024 * 1024 * 1024).optional(),
  BNSERVE_BATCHING: flag.optional(),
  BNSERVE_BATCH_MAX_ROWS: intFrom(1, 1_000_000).optional(),
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
  const e = parsed.data;
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
    providers: e.BNSERVE_EXECUTION_PROVIDERS !== undefined ? providersFromEnv(e.BNSERVE_EXECUTION_PROVIDERS) : d.providers,
    adminToken: e.BNSERVE_ADMIN_TOKEN,
    limits: {
      maxRows: e.BNSERVE_MAX_ROWS ?? d.limits.maxRows,
      bodyLimit: e.BNSERVE_BODY_LIMIT_BYTES ?? d.limits.bodyLimit,
    },
    batching: {
      enabled: e.BNSERVE_BATCHING ?? d.batching.enabled,
      maxRows: e.BNSERVE_BATCH_MAX_ROWS ?? d.batching.maxRows,
    },
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
