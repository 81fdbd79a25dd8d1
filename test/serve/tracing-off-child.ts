// Run by tracing-off.test.ts in its own process (with forbid-otel-sdk.mjs): tracing as the
// environment says, a server, one traced-looking request; prints what happened as one JSON line.
import { startTracing } from '../../src/tracing/tracing.ts';
import { serveLoggerOptions } from '../../src/serve/http/request-log.ts';
import { startServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, randomMlp, versionInput } from './fixtures.ts';

const tracing = await startTracing(process.env);
const registry = new FakeRegistry();
await registry.registerVersion(versionInput('iris', randomMlp(5), 'classification'));
const lines: string[] = [];
let traced: boolean | undefined;
const server = await startServer({
  registry,
  env: {},
  host: '127.0.0.1',
  port: 0,
  grpcPort: 0,
  providers: ['cpu'],
  refreshIntervalMs: 0,
  logger: serveLoggerOptions('info', { write: (line: string) => lines.push(line) }),
  // Whether the request got a server trace object at all (off: the tracing hooks are not installed).
  extend: (app) => {
    app.addHook('onResponse', (request, _reply, done) => {
      traced = request.trace !== null;
      done();
    });
  },
});
await server.app.dataPlane.start();
const r = await server.app.inject({
  method: 'POST',
  url: '/v2/models/iris/infer',
  headers: { 'content-type': 'application/json', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
  payload: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROWS[0] }] }),
});
await server.close();
await tracing.shutdown();
const requestLine = lines.map((l) => JSON.parse(l)).find((l) => l.msg === 'request');
process.stdout.write(`${JSON.stringify({ enabled: tracing.enabled, status: r.statusCode, traced, requestLine })}\n`);
