// The tracing configuration: OpenTelemetry's standard variables, as src/settings.ts defines them.
import { readSettings } from '../settings.ts';

export interface TracingConfig {
  exporter: 'otlp' | 'console' | 'none';
  /** Where spans are posted (OTLP/HTTP): the traces endpoint as given, else `<endpoint>/v1/traces`. */
  url: string;
  protocol: 'http/protobuf' | 'http/json';
  serviceName: string;
  sampler: 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
  samplerRatio: number;
}

/** Reads the OTEL_* settings; a bad value is a ConfigError naming every one. */
export function readTracingConfig(env: NodeJS.ProcessEnv = process.env): TracingConfig {
  const s = readSettings(
    [
      'OTEL_TRACES_EXPORTER',
      'OTEL_EXPORTER_OTLP_ENDPOINT',
      'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
      'OTEL_EXPORTER_OTLP_PROTOCOL',
      'OTEL_SERVICE_NAME',
      'OTEL_TRACES_SAMPLER',
      'OTEL_TRACES_SAMPLER_ARG',
    ],
    env,
  );
  return {
    exporter: s.OTEL_TRACES_EXPORTER,
    // The specification's rule: the signal-specific URL is used as is, the base gets /v1/traces.
    url: s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${s.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`,
    protocol: s.OTEL_EXPORTER_OTLP_PROTOCOL,
    serviceName: s.OTEL_SERVICE_NAME,
    sampler: s.OTEL_TRACES_SAMPLER,
    samplerRatio: s.OTEL_TRACES_SAMPLER_ARG,
  };
}
