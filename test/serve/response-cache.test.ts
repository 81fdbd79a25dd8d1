// Triton's response cache: answers by the exact input bytes, per version, LRU by size, opt-in per
// model, counted in /stats (cache_hit, cache_miss) and Prometheus.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ResponseCache, responseCacheKey } from '../../src/serve/dataplane/response-cache.ts';
import type { OutputTensor } from '../../src/serve/dataplane/tensors.ts';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, randomMlp, versionInput } from './fixtures.ts';

const tensor = (n: number): OutputTensor => ({ name: 'y', datatype: 'FP32', shape: [1, n], data: new Float32Array(n) });
const feed = (values: number[]) => ({ x: { data: Float32Array.from(values), dims: [1, values.length] } });

describe('ResponseCache', () => {
  it('keys on version, requested outputs and the exact input bytes', () => {
    const key = responseCacheKey('m', 1, ['y'], feed([1, 2]));
    assert.equal(responseCacheKey('m', 1, ['y'], feed([1, 2])), key);
    assert.notEqual(responseCacheKey('m', 2, ['y'], feed([1, 2])), key);
    assert.notEqual(responseCacheKey('m', 1, ['z'], feed([1, 2])), key);
    assert.notEqual(responseCacheKey('m', 1, ['y'], feed([1, 2.001])), key);
    assert.notEqual(responseCacheKey('m', 1, ['y'], { x: { data: Float32Array.from([1, 2]), dims: [2, 1] } }), key);
  });

  it('evicts the least recently used answers beyond its size, and stores copies', () => {
    const cache = new ResponseCache(3 * (4000 + 128));
    const first = tensor(1000);
    cache.set('a', [first]);
    cache.set('b', [tensor(1000)]);
    cache.set('c', [tensor(1000)]);
    (first.data as Float32Array)[0] = 42;
    assert.equal((cache.get('a')![0].data as Float32Array)[0], 0, 'a copy, not the caller’s tensor');
    cache.set('d', [tensor(1000)]); // over the size: "b" is now the least recently used
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.get('a') && cache.get('c') && cache.get('d'));
    assert.ok(cache.size.bytes <= cache.maxBytes);
    cache.set('huge', [tensor(100_000)]);
    assert.equal(cache.get('huge'), undefined, 'an answer larger than the cache is not stored');
  });
});

describe('the response cache over OIP v2', () => {
  async function appWith(models: string[] | null): Promise<FastifyInstance> {
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(5), 'classification'));
    await registry.registerVersion(versionInput('iris', randomMlp(6), 'classification'));
    await registry.registerVersion(versionInput('other', randomMlp(7), 'classification'));
    const app = await buildApp({
      registry,
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      responseCache: { maxBytes: 1024 * 1024, models },
    });
    await app.ready();
    return app;
  }
  const infer = (app: FastifyInstance, url: string, row: number[]) =>
    app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: row }] }),
    });
  const stats = async (app: FastifyInstance, url: string) =>
    (await app.inject({ method: 'GET', url })).json().model_stats[0].inference_stats as Record<string, { count: number }>;

  it('a repeated request is answered from the cache with the same bytes; other inputs and versions miss', async () => {
    const app = await appWith(['iris']);
    try {
      const first = await infer(app, '/v2/models/iris/versions/2/infer', IRIS_ROWS[0]);
      const again = await infer(app, '/v2/models/iris/versions/2/infer', IRIS_ROWS[0]);
      assert.equal(first.statusCode, 200);
      assert.equal(again.body, first.body);
      await infer(app, '/v2/models/iris/versions/2/infer', IRIS_ROWS[1]);
      const other = await infer(app, '/v2/models/iris/versions/1/infer', IRIS_ROWS[0]);
      assert.notEqual(other.body, first.body, 'version 1 answers for itself');
      const v2 = await stats(app, '/v2/models/iris/versions/2/stats');
      assert.deepEqual([v2.cache_hit.count, v2.cache_miss.count, v2.success.count], [1, 2, 3]);
      assert.deepEqual([(await stats(app, '/v2/models/iris/versions/1/stats')).cache_miss.count], [1]);
      const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /bnserve_response_cache_total\{model="iris",result="hit"\} 1/);
    } finally {
      await app.close();
    }
  });

  it('only the models that opt in use it', async () => {
    const app = await appWith(['iris']);
    try {
      await infer(app, '/v2/models/other/infer', IRIS_ROWS[0]);
      await infer(app, '/v2/models/other/infer', IRIS_ROWS[0]);
      const s = await stats(app, '/v2/models/other/versions/1/stats');
      assert.deepEqual([s.cache_hit.count, s.cache_miss.count, s.success.count], [0, 0, 2]);
    } finally {
      await app.close();
    }
  });
});
