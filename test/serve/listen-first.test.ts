// The server listens first and loads after: liveness answers while the models load (a startup probe
// waits on readiness, a liveness probe does not kill a pod that is still loading).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

test('while the first registry read and model load are under way: live 200, ready 503; once loaded: ready 200', async () => {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(7), 'classification'));
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const listModels = registry.listModels.bind(registry);
  registry.listModels = async () => {
    await gate;
    return listModels();
  };
  const whileLoading: Record<string, number> = {};
  const started = startServer({
    registry,
    env: {},
    host: '127.0.0.1',
    port: 0,
    grpcPort: null,
    providers: ['cpu'],
    logger: false,
    refreshIntervalMs: 0,
    onListening: async ({ url }) => {
      whileLoading.live = (await fetch(`${url}/v2/health/live`)).status;
      whileLoading.ready = (await fetch(`${url}/v2/health/ready`)).status;
      release();
    },
  });
  const server = await started;
  try {
    assert.deepEqual(whileLoading, { live: 200, ready: 503 });
    assert.equal((await fetch(`${server.url}/v2/health/ready`)).status, 200);
  } finally {
    await server.close();
  }
});
