import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DynamicBatcher, OverloadedError } from '../../src/serve/dataplane/batcher.ts';
import { DEFAULT_BATCHING, type BatchingOptions } from '../../src/serve/config.ts';
import type { Feed, RunOutputs } from '../../src/serve/dataplane/tensors.ts';
import { ModelUnavailableError } from '../../src/serve/dataplane/errors.ts';

/** An execute() whose runs finish only when the test says so; output = input × 2, one column. */
function controlledModel() {
  const runs: { rows: number; input: number[]; finish: () => void; fail: (e: Error) => void }[] = [];
  const execute = (feeds: readonly Feed[]) =>
    new Promise<RunOutputs>((resolve, reject) => {
      const input = Array.from(feeds[0].data as Float32Array);
      const rows = feeds[0].dims[0];
      runs.push({
        rows,
        input,
        finish: () => resolve({ y: { name: 'y', datatype: 'FP32', shape: [rows, 1], data: Float32Array.from(input.map((x) => 2 * x)) } }),
        fail: reject,
      });
    });
  return { runs, execute };
}

const column = (values: number[]): Feed[] => [{ data: Float32Array.from(values), dims: [values.length, 1] }];
const settings = (s: Partial<BatchingOptions> = {}) => {
  const fixed = { ...DEFAULT_BATCHING, ...s };
  return () => fixed;
};
const tick = () => new Promise((r) => setImmediate(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('DynamicBatcher', () => {
  it('runs a lone request at once, without waiting for company', () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 64 }), 1);
    void batcher.submit(column([1]), 1);
    assert.equal(model.runs.length, 1, 'execute was called synchronously inside submit()');
    model.runs[0].finish();
  });

  it('merges requests that arrive while a run is busy and splits the results back', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 64 }), 1);
    const a = batcher.submit(column([1]), 1);
    const b = batcher.submit(column([2, 3]), 2);
    const c = batcher.submit(column([4]), 1);
    assert.equal(model.runs.length, 1);
    assert.equal(batcher.queued, 2);
    model.runs[0].finish();
    const ra = await a;
    assert.equal(ra.batchRows, 1);
    await tick();
    assert.equal(model.runs.length, 2, 'b and c went together');
    assert.deepEqual(model.runs[1].input, [2, 3, 4]);
    model.runs[1].finish();
    const [rb, rc] = await Promise.all([b, c]);
    assert.deepEqual([...rb.outputs.y.data], [4, 6]);
    assert.deepEqual(rb.outputs.y.shape, [2, 1]);
    assert.deepEqual([...rc.outputs.y.data], [8]);
    assert.equal(rc.batchRows, 3);
  });

  it('never merges beyond maxBatchSize', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 4 }), 1);
    const all = [
      batcher.submit(column([0]), 1),
      batcher.submit(column([1, 1]), 2),
      batcher.submit(column([2, 2]), 2),
      batcher.submit(column([3, 3]), 2),
    ];
    for (let i = 0; model.runs.length > i; i++) {
      model.runs[i].finish();
      await tick();
    }
    await Promise.all(all);
    assert.deepEqual(
      model.runs.map((r) => r.rows),
      [1, 4, 2],
    );
  });

  it('with batching off, runs every request alone', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ enabled: false }), 1);
    const all = [batcher.submit(column([1]), 1), batcher.submit(column([2]), 1), batcher.submit(column([3]), 1)];
    for (let i = 0; model.runs.length > i; i++) {
      model.runs[i].finish();
      await tick();
    }
    await Promise.all(all);
    assert.deepEqual(
      model.runs.map((r) => r.rows),
      [1, 1, 1],
    );
  });

  it('cuts a batch at the largest preferred size the queue reaches', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 8, preferredBatchSizes: [2, 4] }), 1);
    const all = [0, 1, 2, 3, 4, 5].map((x) => batcher.submit(column([x]), 1));
    for (let i = 0; model.runs.length > i; i++) {
      model.runs[i].finish();
      await tick();
    }
    await Promise.all(all);
    assert.deepEqual(
      model.runs.map((r) => r.rows),
      [1, 4, 1],
      'first runs alone (idle), then 4 of the 5 queued (preferred), then the last',
    );
  });

  it('with a queue delay, waits for company when idle, and dispatches early at maxBatchSize', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 3, maxQueueDelayMicroseconds: 60_000_000 }), 1);
    const a = batcher.submit(column([1]), 1);
    const b = batcher.submit(column([2]), 1);
    assert.equal(model.runs.length, 0, 'no run before the delay or a full batch');
    const c = batcher.submit(column([3]), 1);
    assert.equal(model.runs.length, 1, 'a full batch goes at once');
    assert.deepEqual(model.runs[0].input, [1, 2, 3]);
    model.runs[0].finish();
    await Promise.all([a, b, c]);
  });

  it('with a short queue delay, runs a lone request once the delay has passed', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 8, maxQueueDelayMicroseconds: 20_000 }), 1);
    const a = batcher.submit(column([1]), 1);
    assert.equal(model.runs.length, 0);
    await sleep(200);
    assert.equal(model.runs.length, 1);
    model.runs[0].finish();
    const r = await a;
    assert.ok(r.queueSeconds >= 0.015, `waited ${r.queueSeconds} s`);
  });

  it('a delay under 1 ms is not stretched to the 1 ms Node timers wait at least', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 8, maxQueueDelayMicroseconds: 300 }), 1);
    const asked: number[] = [];
    const realSetTimeout = globalThis.setTimeout;
    globalThis.setTimeout = ((fn: () => void, ms?: number) => {
      asked.push(ms ?? 0);
      return realSetTimeout(fn, ms);
    }) as typeof setTimeout;
    let a: Promise<unknown>;
    try {
      a = batcher.submit(column([1]), 1);
      assert.equal(model.runs.length, 0, 'it waits for company first');
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    for (let i = 0; i < 100_000 && model.runs.length === 0; i++) await tick();
    assert.equal(model.runs.length, 1);
    model.runs[0].finish();
    const r = (await a) as { queueSeconds: number };
    assert.ok(r.queueSeconds >= 0.0003, `waited ${r.queueSeconds} s`);
    assert.deepEqual(
      asked.filter((ms) => ms < 1),
      [],
      'no timer was set for a wait under 1 ms',
    );
  });

  it('answers 503 queue_full at once when maxQueueSize requests are waiting', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxQueueSize: 2 }), 1);
    const running = batcher.submit(column([1]), 1);
    const queued = [batcher.submit(column([2]), 1), batcher.submit(column([3]), 1)];
    assert.equal(batcher.queued, 2);
    await assert.rejects(batcher.submit(column([4]), 1), (err: unknown) => {
      assert.ok(err instanceof OverloadedError);
      assert.equal(err.code, 'overloaded');
      assert.equal(err.reason, 'queue_full');
      assert.equal(err.retryAfterSeconds, 1);
      return true;
    });
    model.runs[0].finish();
    await running;
    await tick();
    model.runs[1].finish();
    assert.deepEqual(
      (await Promise.all(queued)).map((r) => [...r.outputs.y.data]),
      [[4], [6]],
    );
  });

  it('drops a request that waits longer than the queue timeout (model default or its own, shorter)', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ queueTimeoutMicroseconds: 60_000_000 }), 1);
    const running = batcher.submit(column([1]), 1);
    const patient = batcher.submit(column([2]), 1);
    const hasty = batcher.submit(column([3]), 1, { timeoutMicroseconds: 20_000 });
    await assert.rejects(hasty, (err: unknown) => err instanceof OverloadedError && err.reason === 'queue_timeout');
    assert.equal(batcher.queued, 1, 'the timed-out request left the queue');
    model.runs[0].finish();
    await running;
    await tick();
    assert.deepEqual(model.runs[1].input, [2]);
    model.runs[1].finish();
    await patient;
  });

  it('runs up to instanceCount batches at once', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 2 }), 2);
    const all = [1, 2, 3, 4].map((x) => batcher.submit(column([x]), 1));
    assert.equal(model.runs.length, 2, 'two idle instances take one request each');
    assert.equal(batcher.busy, 2);
    model.runs[0].finish();
    await tick();
    assert.deepEqual(model.runs[2].input, [3, 4]);
    model.runs[1].finish();
    model.runs[2].finish();
    await Promise.all(all);
  });

  it('cuts at a preferred size the head request alone reaches', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 8, preferredBatchSizes: [2] }), 1);
    const busy = batcher.submit(column([0]), 1);
    const all = [batcher.submit(column([1, 1]), 2), batcher.submit(column([2]), 1), batcher.submit(column([3]), 1)];
    model.runs[0].finish();
    await busy;
    await tick();
    assert.deepEqual(model.runs[1].input, [1, 1], 'the head request is a preferred batch on its own');
    model.runs[1].finish();
    await tick();
    model.runs[2].finish();
    await Promise.all(all);
  });

  it('holds no timer once the queue is empty, so an idle server can exit', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const model = controlledModel();
    const batcher = new DynamicBatcher(
      model.execute,
      settings({ maxBatchSize: 2, maxQueueDelayMicroseconds: 60_000_000, queueTimeoutMicroseconds: 60_000_000 }),
      1,
    );
    const pair = [batcher.submit(column([1]), 1), batcher.submit(column([2]), 1)];
    assert.equal(model.runs.length, 1, 'a full batch goes at once');
    assert.equal(timers(), before, 'the delay and sweep timers armed while the first request waited are gone');
    model.runs[0].finish();
    await Promise.all(pair);
  });

  it('close() rejects what is queued, refuses new requests and clears its timers', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const model = controlledModel();
    const batcher = new DynamicBatcher(
      model.execute,
      settings({ maxQueueDelayMicroseconds: 60_000_000, queueTimeoutMicroseconds: 60_000_000 }),
      1,
    );
    const waiting = batcher.submit(column([1]), 1);
    assert.ok(timers() > before);
    batcher.close();
    assert.equal(timers(), before);
    const notLoaded = (err: unknown) => err instanceof ModelUnavailableError && err.reason === 'not_loaded';
    await assert.rejects(waiting, notLoaded);
    await assert.rejects(batcher.submit(column([2]), 1), notLoaded);
    assert.equal(model.runs.length, 0);
  });

  it('fails every request of a failed run and keeps serving afterwards', async () => {
    const model = controlledModel();
    const batcher = new DynamicBatcher(model.execute, settings({ maxBatchSize: 8 }), 1);
    const first = batcher.submit(column([1]), 1);
    const second = batcher.submit(column([2]), 1);
    const third = batcher.submit(column([3]), 1);
    model.runs[0].finish();
    await first;
    await tick();
    model.runs[1].fail(new Error('boom'));
    await assert.rejects(second, /boom/);
    await assert.rejects(third, /boom/);
    const fourth = batcher.submit(column([5]), 1);
    model.runs[2].finish();
    assert.deepEqual([...(await fourth).outputs.y.data], [10]);
  });
});
