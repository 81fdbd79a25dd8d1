// `bnserve serve` with OTEL_TRACES_EXPORTER=otlp: the command starts tracing itself (the settings as
// the process has them), and on SIGTERM drains, then exports the spans it still holds before exiting,
// so a collector gets the last requests' traces. A bad OTEL_* value is refused at start.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { mlpOnnx, randomMlp } from '../serve/fixtures.ts';
import { startOtlpSink } from '../serve/otlp-sink.ts';
import { ROOT } from './run-cli.ts';

function serveEnv(otel: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_') && k !== 'DATABASE_URL' && k !== 'BNSERVE_ARTIFACTS'),
  );
  return { ...inherited, HOST: '127.0.0.1', BNSERVE_GRPC_PORT: '0', BNSERVE_EXECUTION_PROVIDERS: 'cpu', ...otel };
}

test('bnserve serve exports the spans of its requests, the last ones at shutdown', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-serve-tracing-'));
  const sink = await startOtlpSink();
  t.after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await sink.close();
  });
  mkdirSync(path.join(dir, 'mlp'));
  writeFileSync(path.join(dir, 'mlp', 'model.onnx'), mlpOnnx(randomMlp(3), 'classification'));
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/bnserve.js'), 'serve', '--port', '0', '--model-name', 'mlp', '--model-dir', path.join(dir, 'mlp')],
    {
      cwd: dir,
      env: serveEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /bnserve listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    void exited.then((code) => reject(new Error(`bnserve serve exited ${code}: ${err}`)));
  });
  const traceId = '0af7651916cd43dd8448eb211c80319c';
  const r = await fetch(`${url}/v2/models/mlp/infer`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', traceparent: `00-${traceId}-b7ad6b7169203331-01` },
    body: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] }),
  });
  assert.equal(r.status, 200, await r.text());
  // The batch processor would wait seconds to export: the spans leave at shutdown.
  child.kill('SIGTERM');
  assert.equal(await exited, 0, err);
  const names = sink.spans.filter((s) => s.traceId === traceId).map((s) => s.name);
  assert.deepEqual(names.sort(), [
    'POST /v2/models/:model/infer',
    'bnserve.batch',
    'bnserve.encode_response',
    'bnserve.queue_wait',
    'onnxruntime.run',
  ]);
  const line = out.split('\n').find((l) => l.includes('"msg":"request"') && l.includes('/v2/models/mlp/infer'));
  assert.match(line ?? '', new RegExp(`"trace_id":"${traceId}"`), 'the request line carries the trace id');
});

test('bnserve serve refuses a bad OTEL_* value before it opens anything', async () => {
  const child = spawn(
    process.execPath,
    [path.join(ROOT, 'bin/bnserve.js'), 'serve', '--port', '0', '--model-name', 'mlp', '--model-dir', os.tmpdir()],
    {
      env: serveEnv({ OTEL_TRACES_EXPORTER: 'jaeger' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 2, err);
  assert.match(err, /OTEL_TRACES_EXPORTER: must be one of otlp, console, none \(got "jaeger"\)/);
});
