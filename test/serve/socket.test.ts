// The server over a real socket (127.0.0.1, port 0): predictions, hot swap under load, graceful close.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, cudaLibraryPresent, maxAbsDiff, mlpReference, randomMlp, versionInput, type MlpParams } from './fixtures.ts';

const TOKEN = 'socket-test-token';
const LABELS = ['setosa', 'versicolor', 'virginica'];
const noCuda = { skip: cudaLibraryPresent() ? 'the CUDA provider is installed here' : false };

async function serve(registry: FakeRegistry, extra: Partial<Parameters<typeof startServer>[0]> = {}): Promise<RunningServer> {
  return startServer({ registry, env: {}, host: '127.0.0.1', port: 0, adminToken: TOKEN, logger: false, refreshIntervalMs: 0, ...extra });
}

async function irisRegistry(): Promise<{ registry: FakeRegistry; params: Record<number, MlpParams> }> {
  const registry = new FakeRegistry();
  const params = { 1: randomMlp(11), 2: randomMlp(12) };
  await registry.registerVersion(versionInput('iris', params[1], 'classification'));
  await registry.registerVersion(versionInput('iris', params[2], 'classification'));
  await registry.promote('iris', 1, 'production');
  return { registry, params };
}

const predict = (url: string, rows: number[][]) =>
  fetch(`${url}/v1/models/iris:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instances: rows }),
  });

describe('over a real socket', () => {
  it('answers :predict and v2 infer like the model, and serves /metrics and /docs', noCuda, async () => {
    const { registry, params } = await irisRegistry();
    const server = await serve(registry, { providers: ['cuda', 'cpu'] });
    try {
      assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const r = await predict(server.url, IRIS_ROWS);
      assert.equal(r.status, 200);
      const body = (await r.json()) as { predictions: { probabilities: Record<string, number> }[]; model_version: number };
      const expected = mlpReference(params[1], 'classification', IRIS_ROWS);
      for (const [i, p] of body.predictions.entries())
        assert.ok(
          maxAbsDiff(
            LABELS.map((l) => p.probabilities[l]),
            expected[i],
          ) <= 1e-5,
        );

      const infer = await fetch(`${server.url}/v2/models/iris/infer`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id: 'x1', inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32', data: IRIS_ROWS.slice(0, 2) }] }),
      });
      const inferBody = (await infer.json()) as { id: string; outputs: { data: number[] }[] };
      assert.equal(inferBody.id, 'x1');
      assert.ok(maxAbsDiff(inferBody.outputs[0].data, expected.slice(0, 2).flat()) <= 1e-5);

      const meta = (await (await fetch(`${server.url}/v2/models/iris`)).json()) as { execution_provider: string };
      assert.equal(meta.execution_provider, 'CPUExecutionProvider');
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /bnserve_execution_provider_info\{model="iris",version="1",provider="CPUExecutionProvider"\} 1/);
      assert.match(metrics, /bnserve_execution_provider_unavailable\{provider="cuda"\} 1/);
      const docs = await fetch(`${server.url}/docs`);
      assert.equal(docs.status, 200);
      assert.match(await docs.text(), /swagger-ui/i);
      const malformed = await fetch(`${server.url}/v1/models/iris:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"instances": [',
      });
      assert.equal(malformed.status, 400);
      assert.match(((await malformed.json()) as { error: string }).error, /not valid JSON/);
    } finally {
      await server.close();
    }
  });

  it('hot swap: moving the alias while clients loop fails no request', async () => {
    const { registry, params } = await irisRegistry();
    const server = await serve(registry);
    const rows = IRIS_ROWS.slice(0, 3);
    const expected = { 1: mlpReference(params[1], 'classification', rows), 2: mlpReference(params[2], 'classification', rows) };
    const results: { version: number; ok: boolean; startedAt: number; finishedAt: number }[] = [];
    let failures = 0;
    let stop = false;
    const client = async () => {
      for (let i = 0; i < 3000 && !stop; i++) {
        const startedAt = performance.now();
        try {
          const r = await predict(server.url, rows);
          const body = (await r.json()) as { model_version: number; predictions: { probabilities: Record<string, number> }[] };
          const want = expected[body.model_version as 1 | 2];
          const ok =
            r.status === 200 &&
            want !== undefined &&
            body.predictions.every(
              (p, k) =>
                maxAbsDiff(
                  LABELS.map((l) => p.probabilities[l]),
                  want[k],
                ) <= 1e-5,
            );
          if (!ok) failures++;
          results.push({ version: body.model_version, ok, startedAt, finishedAt: performance.now() });
        } catch {
          failures++;
          results.push({ version: -1, ok: false, startedAt, finishedAt: performance.now() });
        }
      }
      finishedLoops++;
    };
    let finishedLoops = 0;
    const waitForRequests = async (n: number) => {
      const target = results.length + n;
      while (results.length < target && finishedLoops < 4) await new Promise((r) => setTimeout(r, 5));
    };

    const loops = [client(), client(), client(), client()];
    try {
      const oldVersion = server.app.models.peek('iris', 1);
      await waitForRequests(100);
      const promote = await fetch(`${server.url}/admin/models/iris/promote`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify({ version: 2, alias: 'production' }),
      });
      const promotedAt = performance.now();
      assert.equal(promote.status, 200);
      assert.deepEqual(await promote.json(), {
        name: 'iris',
        alias: 'production',
        version: 2,
        previous_version: 1,
        execution_provider: 'CPUExecutionProvider',
      });
      await waitForRequests(100);

      // And back, the way `bnserve models promote` does it: registry first, server on its next poll.
      const revertStartedAt = performance.now();
      await registry.promote('iris', 1, 'production');
      await server.app.models.refreshAll();
      const revertedAt = performance.now();
      await waitForRequests(100);
      stop = true;
      await Promise.all(loops);

      assert.equal(failures, 0);
      assert.ok(results.every((r) => r.ok));
      const between = results.filter((r) => r.startedAt > promotedAt && r.finishedAt < revertStartedAt);
      const afterRevert = results.filter((r) => r.startedAt > revertedAt);
      assert.ok(between.length > 0 && between.every((r) => r.version === 2), 'requests sent after the promotion answered by v2');
      assert.ok(afterRevert.length > 0 && afterRevert.every((r) => r.version === 1), 'requests sent after the revert answered by v1');
      assert.equal(oldVersion.isReleased, true, 'the first v1 session was released after its requests ended');
    } finally {
      stop = true;
      await Promise.all(loops);
      await server.close();
    }
  });

  it('close() stops accepting, lets the in-flight request finish, then releases the sessions', async () => {
    const { registry } = await irisRegistry();
    let enter!: () => void;
    let leave!: () => void;
    const entered = new Promise<void>((r) => (enter = r));
    const gate = new Promise<void>((r) => (leave = r));
    const server = await serve(registry, {
      extend: (app) => {
        app.get('/test/slow', async () => {
          enter();
          await gate;
          return { done: true };
        });
      },
    });
    const session = server.app.models.peek('iris');
    const slow = fetch(`${server.url}/test/slow`);
    await entered;
    const closing = server.close();
    try {
      for (let i = 0; i < 1000 && server.app.server.listening; i++) await new Promise((r) => setTimeout(r, 5));
      assert.equal(server.app.server.listening, false, 'the listener is closed');
      await assert.rejects(predict(server.url, [IRIS_ROWS[0]]), 'new connections are refused');
      assert.equal(session.isReleased, false, 'the sessions outlive the in-flight request');
    } finally {
      leave();
    }
    const response = await slow;
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { done: true });
    await closing;
    assert.equal(session.isReleased, true);
  });

  it('takes its settings from the environment', async () => {
    const { registry } = await irisRegistry();
    const server = await startServer({
      registry,
      logger: false,
      env: {
        HOST: '127.0.0.1',
        PORT: '0',
        BNSERVE_EXECUTION_PROVIDERS: 'cpu',
        BNSERVE_ADMIN_TOKEN: 'from-env',
        BNSERVE_MAX_ROWS: '2',
        BNSERVE_REFRESH_MS: '0',
      },
    });
    try {
      const index = await fetch(`${server.url}/v2/repository/index`, { method: 'POST', headers: { authorization: 'Bearer from-env' } });
      assert.equal(index.status, 200);
      const tooMany = await predict(server.url, IRIS_ROWS.slice(0, 3));
      assert.equal(tooMany.status, 400);
      assert.match(((await tooMany.json()) as { error: string }).error, /at most 2 instances/);
    } finally {
      await server.close();
    }
  });

  it('answers a request that is not valid HTTP with a 400 {"error"} body', async () => {
    const { registry } = await irisRegistry();
    const server = await serve(registry);
    try {
      const { port } = new URL(server.url);
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () =>
          socket.write('GET /v2/health/live HTTP/1.1\r\nHost: x\r\nno colon in this header\r\n\r\n'),
        );
        let text = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('close', () => resolve(text));
        socket.on('error', (err) => (text ? resolve(text) : reject(err)));
      });
      const [head, body] = raw.split('\r\n\r\n');
      assert.match(head, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(head, /content-type: application\/json/i);
      assert.deepEqual(JSON.parse(body), { error: 'malformed HTTP request' });
    } finally {
      await server.close();
    }
  });
});
