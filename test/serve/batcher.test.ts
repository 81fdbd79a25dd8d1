import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OpportunisticBatcher, type RunOutputs } from '../../src/serve/batcher.ts';

/** An execute() whose runs finish only when the test says so; output = input × 2, one column. */
function controlledModel() {
  const runs: { rows: number; input: number[]; finish: () => void; fail: (e: Error) => void }[] = [];
  const execute = (data: Float32Array | Float64Array | Int32Array | BigInt64Array, rows: number) =>
    new Promise<RunOutputs>((resolve, reject) => {
      const input = Array.from(data as Float32Array);
      runs.push({
        rows,
        input,
        finish: () => resolve({ y: { type: 'float32', dims: [rows, 1], data: Float32Array.from(input.map((x) => 2 * x)) } }),
        fail: reject,
      });
    });
  return { runs, execute };
}

const column = (values: number[]) => Float32Array.from(values);

describe('OpportunisticBatcher', () => {
  it('runs a lone request at once, without waiting for company', () => {
    const model = controlledModel();
    const batcher = new OpportunisticBatcher(model.execute, 64);
    void batcher.submit(column([1]), 1);
    assert.equal(model.runs.length, 1, 'execute was called synchronously inside submit()');
    model.runs[0].finish();
  });

  it('merges requests that arrive while a run is busy and splits the results back', async () => {
    const model = controlledModel();
    const batcher = new OpportunisticBatcher(model.execute, 64);
    const a = batcher.submit(column([1]), 1);
    const b = batcher.submit(column([2, 3]), 2);
    const c = batcher.submit(column([4]), 1);
    assert.equal(model.runs.length, 1);
    assert.equal(batcher.queued, 2);
    model.runs[0].finish();
    const ra = await a;
    assert.equal(ra.batchRows, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(model.runs.length, 2, 'b and c went together');
    assert.deepEqual(model.runs[1].input, [2, 3, 4]);
    model.runs[1].finish();
    const [rb, rc] = await Promise.all([b, c]);
    assert.deepEqual([...rb.outputs.y.data], [4, 6]);
    assert.deepEqual(rb.outputs.y.dims, [2, 1]);
    assert.deepEqual([...rc.outputs.y.data], [8]);
    assert.equal(rc.batchRows, 3);
  });

  it('never merges beyond maxRows', async () => {
    const model = controlledModel();
    const batcher = new OpportunisticBatcher(model.execute, 4);
    const all = [
      batcher.submit(column([0]), 1),
      batcher.submit(column([1, 1]), 2),
      batcher.submit(column([2, 2]), 2),
      batcher.submit(column([3, 3]), 2),
    ];
    for (let i = 0; model.runs.length > i; i++) {
      model.runs[i].finish();
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(all);
    assert.deepEqual(
      model.runs.map((r) => r.rows),
      [1, 4, 2],
    );
  });

  it('fails every request of a failed run and keeps serving afterwards', async () => {
    const model = controlledModel();
    const batcher = new OpportunisticBatcher(model.execute, 8);
    const first = batcher.submit(column([1]), 1);
    const second = batcher.submit(column([2]), 1);
    const third = batcher.submit(column([3]), 1);
    model.runs[0].finish();
    await first;
    await new Promise((r) => setImmediate(r));
    model.runs[1].fail(new Error('boom'));
    await assert.rejects(second, /boom/);
    await assert.rejects(third, /boom/);
    const fourth = batcher.submit(column([5]), 1);
    model.runs[2].finish();
    assert.deepEqual([...(await fourth).outputs.y.data], [10]);
  });
});
