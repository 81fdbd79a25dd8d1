// Tracing off (OTEL_TRACES_EXPORTER unset, the default): a server answers a request that carries a
// traceparent without loading any of the OpenTelemetry SDK or its exporters (only the API's no-op
// tracer), exports nothing to a collector that is listening, and logs no trace id.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startOtlpSink } from './otlp-sink.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

/** The child's environment: the caller's minus every OTEL_* variable, plus `otel`. */
function childEnv(otel: Record<string, string>): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
  return { ...env, ...otel };
}

function runChild(otel: Record<string, string>) {
  return spawnSync(
    process.execPath,
    ['--import', 'tsx', '--import', path.join(HERE, 'forbid-otel-sdk.mjs'), path.join(HERE, 'tracing-off-child.ts')],
    { cwd: ROOT, env: childEnv(otel), encoding: 'utf8', timeout: 120_000 },
  );
}

describe('tracing off', () => {
  it('loads no SDK, exports nothing and logs no trace id', async () => {
    const sink = await startOtlpSink();
    try {
      // The endpoint is set, the exporter is not: off.
      const child = runChild({ OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' });
      assert.equal(child.status, 0, child.stderr);
      const out = JSON.parse(child.stdout.trim().split('\n').at(-1)!);
      assert.equal(out.enabled, false);
      assert.equal(out.status, 200);
      assert.equal(out.traced, false, 'no tracing hook ran for the request');
      assert.equal(out.requestLine.trace_id, undefined);
      assert.equal(out.requestLine.span_id, undefined);
      assert.equal(sink.contentTypes.length, 0, 'no export request reached the collector');
    } finally {
      await sink.close();
    }
  });

  it('the same child with OTEL_TRACES_EXPORTER=otlp reaches the SDK (the check can fail)', () => {
    const child = runChild({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9' });
    assert.notEqual(child.status, 0);
    assert.match(child.stderr, /OpenTelemetry SDK reached: @opentelemetry\//);
  });
});
