/**
 * Every environment variable bnserve reads: its rule, its default and its documentation, in one
 * schema. Modules ask for the settings they use (`readSettings(['PORT'])`), so a bad serving knob
 * does not stop `bnserve train`. The settings table in docs/configuration.md is generated from SETTINGS
 * (`npm run settings-table`) and a test keeps the two equal.
 */
import { z } from 'zod';
import { BATCHING_DEFAULTS, batchingOptionsSchema, batchingOverrideSchema } from './lib/batching.ts';
import { ConfigError } from './lib/errors.ts';
import { ALIAS, MODEL_NAME, PRODUCTION_ALIAS } from './lib/names.ts';

const shown = (input: unknown) => JSON.stringify(input);

export const intFrom = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, { error: (i) => `must be a whole number from ${min} to ${max} (got ${shown(i.input)})` })
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** A whole number within the bounds a zod number schema (one owner's field) sets. */
const intWithin = (schema: z.ZodNumber) => {
  if (schema.minValue === null || schema.maxValue === null) throw new Error('intWithin needs a schema with a min and a max');
  return intFrom(schema.minValue, schema.maxValue);
};

export const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (i) => `must be one of ${values.join(', ')} (got ${shown(i.input)})` });

const FLAG_VALUES = ['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'] as const;
const TRUE_VALUES: readonly string[] = ['1', 'true', 'on', 'yes'];
export const flag = oneOf(FLAG_VALUES).transform((v) => TRUE_VALUES.includes(v));

/**
 * When onnxruntime's idle pool threads spin: `on` always (onnxruntime's default), `run` only while a
 * run is in progress (they sleep once the last run returns: session.force_spinning_stop), `off` never.
 */
export const ORT_SPINNING = ['on', 'run', 'off'] as const;
export type OrtSpinning = (typeof ORT_SPINNING)[number];
const ortSpinning = oneOf([...FLAG_VALUES, 'run']).transform(
  (v): OrtSpinning => (v === 'run' ? 'run' : TRUE_VALUES.includes(v) ? 'on' : 'off'),
);

/** onnxruntime's native log levels. */
export const ORT_LOG_LEVELS = ['verbose', 'info', 'warning', 'error', 'fatal'] as const;
export type OrtLogLevel = (typeof ORT_LOG_LEVELS)[number];
/** pino's levels. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const HOUR_MS = 3600 * 1000;

/** Ranges of the batching knobs (their owner: src/lib/batching.ts), and how the table shows defaults. */
const BATCHING = batchingOptionsSchema.shape;
const code = (value: number | string) => `\`${value}\``;
const onOff = (value: boolean) => (value ? 'on' : 'off');

export { batchingOverrideSchema, type BatchingOverride } from './lib/batching.ts';

const modelBatching = z.string().transform((text, ctx) => {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'not valid JSON (expected {"model": {"maxBatchSize": 64, ...}})' });
    return z.NEVER;
  }
  const parsed = z.record(z.string(), batchingOverrideSchema).safeParse(value);
  if (!parsed.success) {
    ctx.addIssue({ code: 'custom', message: z.prettifyError(parsed.error) });
    return z.NEVER;
  }
  return parsed.data;
});

/** `*` (every model: null) or model names (each a MODEL_NAME) separated by commas. */
const modelList = z.string().transform((text, ctx): string[] | null => {
  if (text === '*') return null;
  const names = text.split(',');
  if (names.some((name) => !MODEL_NAME.test(name))) {
    ctx.addIssue({ code: 'custom', message: 'must be `*` or model names separated by commas' });
    return z.NEVER;
  }
  return names;
});

interface Setting<S extends z.ZodType, F extends z.output<S> | undefined = z.output<S> | undefined> {
  schema: S;
  /** Used when the variable is unset or empty; undefined = no default (the feature is off or onnxruntime decides). */
  fallback: F;
  /** The default as docs/configuration.md shows it. */
  shownDefault: string;
  doc: string;
}

const setting = <S extends z.ZodType, F extends z.output<S> | undefined>(
  schema: S,
  fallback: F,
  shownDefault: string,
  doc: string,
): Setting<S, F> => ({
  schema,
  fallback,
  shownDefault,
  doc,
});

export const SETTINGS = {
  DATABASE_URL: setting(z.string(), 'file:./data/bnserve.db', '`file:./data/bnserve.db`', 'SQLite file or `postgresql://…`'),
  BNSERVE_ARTIFACTS: setting(z.string(), './data/artifacts', '`./data/artifacts`', 'artifact store'),
  HOST: setting(z.string().min(1), '127.0.0.1', '`127.0.0.1`', 'address `serve` and `start` listen on'),
  PORT: setting(intFrom(0, 65535), 8080, '`8080`', 'HTTP port of `serve` and `start`'),
  BNSERVE_GRPC_PORT: setting(
    intFrom(0, 65535),
    8081,
    '`8081`',
    'Open Inference Protocol gRPC port (`inference.GRPCInferenceService`) on `HOST`; `0` turns gRPC off',
  ),
  BNSERVE_GRPC_MAX_CONCURRENT_STREAMS: setting(
    intFrom(1, 65535),
    32,
    '`32`',
    'gRPC calls in flight on one connection (HTTP/2 streams); more wait for a free stream',
  ),
  BNSERVE_GRPC_MAX_SESSION_MEMORY_MB: setting(
    intFrom(1, 65536),
    10,
    '`10`',
    'memory one gRPC connection (HTTP/2 session) may hold in the HTTP/2 layer before new calls are refused',
  ),
  BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB: setting(
    intFrom(1, 65536),
    undefined,
    '8 × the body limit',
    'memory gRPC requests still arriving may hold across the server; a call past it gets `RESOURCE_EXHAUSTED`',
  ),
  BNSERVE_EXECUTION_PROVIDERS: setting(z.string(), 'cuda,cpu', '`cuda,cpu`', 'onnxruntime providers, in order'),
  BNSERVE_ADMIN_TOKEN: setting(z.string(), undefined, 'unset', 'enables admin routes'),
  BNSERVE_MAX_ROWS: setting(intFrom(1, 1_000_000), 1024, '`1024`', 'rows per request'),
  BNSERVE_BODY_LIMIT_BYTES: setting(intFrom(1024, 1024 * 1024 * 1024), 4 * 1024 * 1024, '`4194304`', 'larger bodies get 413'),
  BNSERVE_MAX_IMPORT_MB: setting(
    intFrom(1, 2048),
    256,
    '`256`',
    'largest ONNX file `POST /admin/models/{model}/import` accepts, in MiB (a larger body gets 413)',
  ),
  BNSERVE_BATCHING: setting(
    flag,
    BATCHING_DEFAULTS.enabled,
    onOff(BATCHING_DEFAULTS.enabled),
    'dynamic batching (`off`: every request runs alone, still through the bounded queue)',
  ),
  BNSERVE_BATCH_MAX_ROWS: setting(
    intWithin(BATCHING.maxBatchSize),
    BATCHING_DEFAULTS.maxBatchSize,
    code(BATCHING_DEFAULTS.maxBatchSize),
    'max rows per onnxruntime run (Triton’s `max_batch_size`)',
  ),
  BNSERVE_BATCH_MAX_QUEUE_DELAY_US: setting(
    intWithin(BATCHING.maxQueueDelayMicroseconds),
    BATCHING_DEFAULTS.maxQueueDelayMicroseconds,
    code(BATCHING_DEFAULTS.maxQueueDelayMicroseconds),
    'wait for company up to this; 0 = never wait when an instance is free',
  ),
  BNSERVE_BATCH_PREFERRED_SIZES: setting(
    z
      .string()
      .regex(/^\s*\d+(\s*,\s*\d+)*\s*$/, 'a comma-separated list of positive integers')
      .transform((s) => s.split(',').map(Number))
      .pipe(BATCHING.preferredBatchSizes),
    [...BATCHING_DEFAULTS.preferredBatchSizes],
    BATCHING_DEFAULTS.preferredBatchSizes.length === 0 ? 'none' : code(BATCHING_DEFAULTS.preferredBatchSizes.join(',')),
    'e.g. `32,64`: dispatch as soon as the queue reaches one',
  ),
  BNSERVE_MAX_QUEUE_SIZE: setting(
    intWithin(BATCHING.maxQueueSize),
    BATCHING_DEFAULTS.maxQueueSize,
    code(BATCHING_DEFAULTS.maxQueueSize),
    'requests waiting per model version; one more → 503 + `Retry-After: 1`',
  ),
  BNSERVE_QUEUE_TIMEOUT_US: setting(
    intWithin(BATCHING.queueTimeoutMicroseconds),
    BATCHING_DEFAULTS.queueTimeoutMicroseconds,
    `${code(BATCHING_DEFAULTS.queueTimeoutMicroseconds)}${BATCHING_DEFAULTS.queueTimeoutMicroseconds === 0 ? ' (none)' : ''}`,
    'queued longer → 503 + `Retry-After`; a request may ask for less with `parameters.timeout` (µs)',
  ),
  BNSERVE_INSTANCE_COUNT: setting(
    intWithin(BATCHING.instanceCount),
    BATCHING_DEFAULTS.instanceCount,
    code(BATCHING_DEFAULTS.instanceCount),
    'onnxruntime runs at once per version: 1 on the main thread, N > 1 in N worker threads',
  ),
  BNSERVE_MODEL_BATCHING: setting(
    modelBatching,
    {},
    '`{}`',
    'per-model overrides, JSON: `{"mnist": {"maxQueueDelayMicroseconds": 500, "instanceCount": 2}}`',
  ),
  BNSERVE_WORKERS: setting(
    intFrom(1, 64),
    1,
    '`1`',
    '`serve` only: serving processes sharing the port (node:cluster); see Performance for when more than 1 helps',
  ),
  BNSERVE_REFRESH_MS: setting(intFrom(0, 24 * HOUR_MS), 5000, '`5000`', 'how often aliases are re-read from the registry'),
  BNSERVE_INTRA_OP_THREADS: setting(intFrom(1, 1024), undefined, 'onnxruntime’s', 'threads per session'),
  BNSERVE_ORT_SPINNING: setting(
    ortSpinning,
    'run',
    '`run`',
    'onnxruntime’s pool threads spin while a run is in progress and sleep once it returns; `on`: they also spin between runs (onnxruntime’s default: faster lone requests, more CPU under load); `off`: they never spin',
  ),
  BNSERVE_LOG_LEVEL: setting(oneOf(LOG_LEVELS), 'info', '`info`', LOG_LEVELS.map((l) => `\`${l}\``).join(', ')),
  BNSERVE_ORT_LOG_LEVEL: setting(oneOf(ORT_LOG_LEVELS), 'fatal', '`fatal`', 'onnxruntime’s native logger (`verbose` … `fatal`)'),
  BNSERVE_HEADERS_TIMEOUT_MS: setting(intFrom(100, HOUR_MS), 10_000, '`10000`', 'request headers must arrive within this (408 otherwise)'),
  BNSERVE_REQUEST_TIMEOUT_MS: setting(
    intFrom(100, HOUR_MS),
    30_000,
    '`30000`',
    'the whole request (headers + body; for gRPC: the request message through END_STREAM); ≥ headers timeout',
  ),
  // Node clients reuse a connection only while more than 1 s of its advertised timeout is left.
  BNSERVE_KEEP_ALIVE_TIMEOUT_MS: setting(
    intFrom(2000, HOUR_MS),
    5000,
    '`5000`',
    'idle connections close after this (≥ 2000); behind a balancer: above its idle timeout',
  ),
  BNSERVE_CONNECTION_TIMEOUT_MS: setting(
    intFrom(0, HOUR_MS),
    60_000,
    '`60000`',
    'a socket without traffic either way is closed; `0` = never',
  ),
  BNSERVE_SHUTDOWN_TIMEOUT_MS: setting(intFrom(0, HOUR_MS), 15_000, '`15000`', 'on SIGTERM, connections still open after this are cut'),
  BNSERVE_DASHBOARD_RAW_DATA: setting(
    oneOf(['auto', 'everyone', 'admin'] as const),
    'auto',
    '`auto`',
    'who sees training rows and server paths in the dashboard API: `admin` (the admin token), `everyone`; `auto`: everyone when `HOST` is loopback, else admin',
  ),
  BNSERVE_MAX_DATA_MB: setting(
    intFrom(1, 1024 * 1024),
    512,
    '`512`',
    'largest training data file (`data.path`, `--data`) read, in MiB; a larger one is refused with this limit in the message',
  ),
  BNSERVE_STRICT_INPUT_NAMES: setting(flag, false, 'off', 'OIP input names must match exactly, single-input models too'),
  BNSERVE_STRICT_READINESS: setting(
    flag,
    true,
    'on',
    '`/v2/health/ready` as Triton’s strict readiness (every default and alias target served, registry reachable); `off`: ready while every model’s default and aliases have some version serving (for load balancers; alert on the strict one)',
  ),
  BNSERVE_MIGRATE_ON_START: setting(
    flag,
    true,
    'on',
    '`serve` applies pending registry migrations before it starts; `off`: it never changes the schema (run `bnserve migrate` as a release step)',
  ),
  BNSERVE_RESPONSE_CACHE_MB: setting(
    intFrom(0, 1024 * 1024),
    0,
    '`0` (off)',
    'response cache (Triton’s `response_cache`): answers by the exact input bytes, per version, least recently used evicted; for the models in `BNSERVE_RESPONSE_CACHE_MODELS`',
  ),
  BNSERVE_RESPONSE_CACHE_MODELS: setting(
    modelList,
    [],
    'none',
    'models that opt in to the response cache: names separated by commas, or `*` for every model',
  ),
  BNSERVE_PAYLOAD_LOG: setting(
    z.string().min(1),
    undefined,
    'unset (off)',
    'payload logging: sampled inference requests and responses as CloudEvents (KServe’s logger types) to a file (JSON lines) or an `http(s)://` endpoint, off the request path',
  ),
  BNSERVE_PAYLOAD_LOG_SAMPLE: setting(z.coerce.number().min(0).max(1), 1, '`1`', 'fraction of inference exchanges logged (0..1)'),
  BNSERVE_PAYLOAD_LOG_MODELS: setting(modelList, null, '`*`', 'models whose exchanges are logged: names separated by commas, or `*`'),
  BNSERVE_PAYLOAD_LOG_QUEUE: setting(
    intFrom(1, 1_000_000),
    1000,
    '`1000`',
    'exchanges waiting to be written at most; beyond, new ones are dropped and counted (`bnserve_payload_log_dropped_total`), never slowing inference',
  ),
  BNSERVE_PAYLOAD_LOG_MAX_MB: setting(
    intFrom(1, 1024 * 1024),
    100,
    '`100`',
    'a payload log file past this size is renamed to `<file>.1` and a new one begun',
  ),
  BNSERVE_MAX_LOADED_VERSIONS: setting(
    intFrom(0, 100_000),
    0,
    '`0` (no limit)',
    'versions loaded at most, all models together; past it the least recently used idle one is unloaded (default-alias targets last, busy ones never) and loads again on its next request (see docs/serving.md)',
  ),
  BNSERVE_MODEL_MEMORY_MB: setting(
    intFrom(0, 1024 * 1024),
    0,
    '`0` (no limit)',
    'memory budget of the loaded versions, in MiB: each counts the RSS growth its load measured, at least its artifact size; unloading as for `BNSERVE_MAX_LOADED_VERSIONS`',
  ),
  BNSERVE_MODEL_LOAD_WAIT_MS: setting(
    intFrom(0, HOUR_MS),
    10_000,
    '`10000`',
    'a request for an unloaded version waits this long for its load (one load per version, shared); past it 503 + `Retry-After: 1` (gRPC: UNAVAILABLE) while the load goes on',
  ),
  OTEL_TRACES_EXPORTER: setting(
    oneOf(['otlp', 'console', 'none'] as const),
    'none',
    '`none` (off)',
    'OpenTelemetry tracing: `otlp` exports spans (requests, queue wait, batches, onnxruntime runs, training epochs) to `OTEL_EXPORTER_OTLP_ENDPOINT`; `console` prints them',
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: setting(
    z.url(),
    'http://localhost:4318',
    '`http://localhost:4318`',
    'OTLP/HTTP collector; spans go to `<endpoint>/v1/traces`',
  ),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: setting(
    z.url(),
    undefined,
    'unset',
    'full URL for spans, used as given (overrides the endpoint above)',
  ),
  OTEL_EXPORTER_OTLP_PROTOCOL: setting(
    oneOf(['http/protobuf', 'http/json'] as const),
    'http/protobuf',
    '`http/protobuf`',
    'OTLP encoding (`grpc` is not supported: use an OTLP/HTTP port of the collector)',
  ),
  OTEL_SERVICE_NAME: setting(z.string().min(1), 'bnserve', '`bnserve`', 'the `service.name` of exported spans'),
  OTEL_TRACES_SAMPLER: setting(
    oneOf([
      'always_on',
      'always_off',
      'traceidratio',
      'parentbased_always_on',
      'parentbased_always_off',
      'parentbased_traceidratio',
    ] as const),
    'parentbased_always_on',
    '`parentbased_always_on`',
    'which traces are recorded; `parentbased_*` follows a caller’s `traceparent` sampled flag',
  ),
  OTEL_TRACES_SAMPLER_ARG: setting(z.coerce.number().min(0).max(1), 1, '`1`', 'ratio for the `traceidratio` samplers (0..1)'),
  BNSERVE_DEFAULT_ALIAS: setting(
    z.string().regex(ALIAS, 'must start with a letter, then letters, digits, ".", "_" or "-" (at most 64 characters)'),
    PRODUCTION_ALIAS,
    `\`${PRODUCTION_ALIAS}\``,
    'alias served (and checked by readiness) when a request names no version; unset alias: the latest version',
  ),
  BNSERVE_STALE_RUN_SECONDS: setting(
    // Keep well above the trainer's 5 s heartbeat.
    z.coerce
      .number({ error: (i) => `must be a number of seconds above 0 (got ${shown(i.input)})` })
      .positive('must be a number of seconds above 0'),
    30,
    '`30`',
    'a run without a heartbeat for this long is marked failed',
  ),
  BNSERVE_TRAIN_ENGINE: setting(
    oneOf(['auto', 'tfjs', 'onnxruntime'] as const),
    'auto',
    '`auto`',
    'training engine: `auto` (onnxruntime for the dense Adam classifiers it supports, unless the config pins a tfjs backend; else tfjs), `tfjs`, or `onnxruntime` (refuses a model it cannot train)',
  ),
  BNSERVE_WASM_KERNELS: setting(
    oneOf(['fast', 'original'] as const),
    'fast',
    '`fast`',
    '`original` keeps tfjs’s own wasm kernels (slow transposed products, no conv training on wasm)',
  ),
};

type Settings = typeof SETTINGS;
export type SettingName = keyof Settings;
/** A setting's value after its default is applied (undefined only where there is no default). */
export type SettingValue<K extends SettingName> = undefined extends Settings[K]['fallback']
  ? z.output<Settings[K]['schema']> | undefined
  : z.output<Settings[K]['schema']>;

/**
 * Reads the named settings from env (unset or empty → default); one ConfigError lists every bad
 * value, so a user fixes them in one go.
 */
export function readSettings<const K extends SettingName>(
  names: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
  what = 'setting',
): { [P in K]: SettingValue<P> } {
  const out: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const name of names) {
    const spec: Setting<z.ZodType> = SETTINGS[name];
    const raw = env[name];
    if (raw === undefined || raw === '') {
      // A copy: callers may change what they get (the admin API edits per-model batching).
      out[name] = typeof spec.fallback === 'object' ? structuredClone(spec.fallback) : spec.fallback;
      continue;
    }
    const parsed = spec.schema.safeParse(raw);
    if (parsed.success) out[name] = parsed.data;
    else problems.push(`${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length > 0) throw new ConfigError(`invalid ${what}: ${problems.join('; ')}`);
  return out as { [P in K]: SettingValue<P> };
}

/** The settings table of docs/configuration.md (markdown), generated from SETTINGS. */
export function settingsTable(): string {
  const rows = Object.entries(SETTINGS).map(([name, s]) => [`\`${name}\``, s.shownDefault, s.doc]);
  const header = ['variable', 'default', ''];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}
