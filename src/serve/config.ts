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
}

export const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;
export type OrtLogLevel = (typeof ORT_LOG_LEVELS)[number];

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
};

const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const flag = z.enum(['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no']).transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

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
  BNSERVE_STALE_RUN_SECONDS: z.coerce.number().positive().optional(),
  BNSERVE_ORT_LOG_LEVEL: z.enum(ORT_LOG_LEVELS).optional(),
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
  };
}

function providersFromEnv(text: string): ProviderName[] {
  try {
    return parseProviderList(text);
  } catch (err) {
    throw new ServeConfigError(`invalid serving configuration: BNSERVE_EXECUTION_PROVIDERS: ${(err as Error).message}`);
  }
}
