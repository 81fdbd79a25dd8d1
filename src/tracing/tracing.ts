// Tracing's lifecycle for a process: started at the CLI edge (train, serve, start), flushed and shut
// down before it exits. Off by default (OTEL_TRACES_EXPORTER unset or `none`): then nothing of the
// SDK or its exporters is loaded, and the spans the code starts are @opentelemetry/api's no-ops.
import { readTracingConfig } from './config.ts';
import type { InstalledSdk } from './sdk.ts';
import { forgetTracer } from './spans.ts';

export interface Tracing {
  readonly enabled: boolean;
  /** Exports every ended span now (a no-op when off). */
  flush(): Promise<void>;
  /** Exports what is left and turns tracing off for this process. */
  shutdown(): Promise<void>;
}

const OFF: Tracing = { enabled: false, flush: async () => {}, shutdown: async () => {} };

let installing: Promise<Tracing> | null = null;
let enabled = false;

/** Whether spans are being recorded and exported in this process (transports add their hooks only then). */
export const tracingEnabled = (): boolean => enabled;

/**
 * Starts tracing as the OTEL_* settings say (a bad value is a ConfigError). Once per process: later
 * calls get the running instance (`start` trains, then serves).
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): Promise<Tracing> {
  const config = readTracingConfig(env);
  if (installing) return installing;
  if (config.exporter === 'none') return Promise.resolve(OFF);
  const started = import('./sdk.ts')
    .then((sdk) => sdk.installSdk(config))
    .then((sdk) => {
      enabled = true;
      forgetTracer();
      return running(sdk);
    });
  installing = started.catch((err: unknown) => {
    installing = null;
    throw err;
  });
  return installing;
}

function running(sdk: InstalledSdk): Tracing {
  let stopped: Promise<void> | null = null;
  return {
    enabled: true,
    flush: () => sdk.flush(),
    shutdown: () =>
      (stopped ??= sdk.shutdown().finally(() => {
        enabled = false;
        installing = null;
        forgetTracer();
      })),
  };
}

/**
 * Runs a command with tracing on as the settings say. The call that started tracing shuts it down
 * when fn settles (its spans exported before the command returns); a nested call (train within
 * `start`) only flushes.
 */
export async function withTracing<T>(fn: () => Promise<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const owner = installing === null;
  const tracing = await startTracing(env);
  try {
    return await fn();
  } finally {
    await (owner ? tracing.shutdown() : tracing.flush());
  }
}
