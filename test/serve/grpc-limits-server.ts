// A serving process for tests that measure it from outside (RSS, sockets): startServer on free
// ports over an in-memory registry holding one Iris-like model, settings from this process's
// environment; prints {"url", "grpcAddress"} as one JSON line once it listens, closes on SIGTERM.
import { startServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

const registry = new FakeRegistry();
await registry.registerVersion(versionInput('iris', randomMlp(51), 'classification'));
const server = await startServer({
  registry,
  host: '127.0.0.1',
  port: 0,
  grpcPort: 0,
  providers: ['cpu'],
  logger: false,
  refreshIntervalMs: 0,
});
process.stdout.write(`${JSON.stringify({ url: server.url, grpcAddress: server.grpcAddress })}\n`);
process.once('SIGTERM', () => void server.close());
