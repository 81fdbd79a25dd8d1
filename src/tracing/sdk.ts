// The OpenTelemetry SDK as configured: a tracer provider with a batch span processor and the chosen
// exporter, W3C trace context, and AsyncLocalStorage for the active span. Loaded only through
// tracing.ts's dynamic import, so that a process with tracing off never loads any of it.
import { context, type DiagLogger, diag, DiagLogLevel, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  type Sampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace-base';
import { BNSERVE_VERSION } from '../lib/version.ts';
import type { TracingConfig } from './config.ts';

export interface InstalledSdk {
  /** Exports every ended span now. */
  flush(): Promise<void>;
  /** Exports what is left, then unregisters the provider, propagator and context manager. */
  shutdown(): Promise<void>;
}

export function sampler(config: Pick<TracingConfig, 'sampler' | 'samplerRatio'>): Sampler {
  const ratio = () => new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio() });
  }
}

async function spanExporter(config: TracingConfig): Promise<SpanExporter> {
  if (config.exporter === 'console') return new ConsoleSpanExporter();
  const { OTLPTraceExporter } =
    config.protocol === 'http/json'
      ? await import('@opentelemetry/exporter-trace-otlp-http')
      : await import('@opentelemetry/exporter-trace-otlp-proto');
  return new OTLPTraceExporter({ url: config.url });
}

/** How often the same SDK problem (a collector that does not answer) is written to stderr at most. */
const REPEAT_MS = 60_000;

/** SDK errors (failed exports) on stderr, each distinct message at most once a minute, so a missing collector does not flood the log. */
function stderrDiag(): DiagLogger {
  const lastWritten = new Map<string, number>();
  const write = (message: string, ...args: unknown[]) => {
    const now = Date.now();
    if (now - (lastWritten.get(message) ?? -Infinity) < REPEAT_MS) return;
    lastWritten.set(message, now);
    const detail = args.map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : JSON.stringify(a))).join(' ');
    process.stderr.write(`bnserve: tracing: ${message}${detail ? ` ${detail}` : ''}\n`);
  };
  const ignore = () => {};
  return { error: write, warn: write, info: ignore, debug: ignore, verbose: ignore };
}

export async function installSdk(config: TracingConfig): Promise<InstalledSdk> {
  const exporter = await spanExporter(config);
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ 'service.name': config.serviceName, 'service.version': BNSERVE_VERSION }),
    sampler: sampler(config),
    spanProcessors: [new BatchSpanProcessor(exporter)],
  });
  diag.setLogger(stderrDiag(), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  return {
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        propagation.disable();
        context.disable();
        diag.disable();
      }
    },
  };
}
