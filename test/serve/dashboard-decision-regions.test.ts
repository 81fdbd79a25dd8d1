// Decision regions never answer what JSON cannot hold: grids float32 cannot evaluate are refused
// before the model runs, and NaN/Infinity answers become a short 4xx, never a serialised payload.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BnserveError } from '../../src/lib/errors.ts';
import { float32AxisProblem } from '../../src/report/decision-grid.ts';
import { decisionRegions, type Evaluate, type ModelFacts, summarizeRunData } from '../../src/serve/dashboard/decision-regions.ts';

const FACTS: ModelFacts = {
  featureNames: ['a', 'b', 'c'],
  inputShape: [3],
  classLabels: ['no', 'yes'],
  task: 'classification',
  signLabels: null,
  standardization: { mean: [0, 0, 0], std: [1, 1, 1] },
  data: null,
};
const REQUEST = { x: 0, y: 1, resolution: 4 };

/** A model answering `value` for both classes of every row. */
const answering =
  (value: number): Evaluate =>
  async (_rows, count) =>
    new Float32Array(count * 2).fill(value);

async function codeOf(work: Promise<unknown>): Promise<string> {
  try {
    await work;
    return 'answered';
  } catch (error) {
    assert.ok(error instanceof BnserveError, String(error));
    assert.ok(error.message.length < 400, `a short message: ${error.message.slice(0, 100)}…`);
    return error.code;
  }
}

describe('float32AxisProblem', () => {
  it('accepts ranges whose every grid point is a distinct finite float32', () => {
    assert.equal(float32AxisProblem([-1, 1], 200), null);
    assert.equal(float32AxisProblem([1e37, 3e38], 200), null);
  });

  it('names the problem otherwise', () => {
    assert.match(float32AxisProblem([1e39, 1e40], 5) ?? '', /finite float32/);
    assert.match(float32AxisProblem([Number.NaN, 1], 5) ?? '', /finite float32/);
    assert.match(float32AxisProblem([2, 1], 5) ?? '', /below/);
    assert.match(float32AxisProblem([-3e38, 3e38], 5) ?? '', /span .*overflows/);
    assert.match(float32AxisProblem([1e30, 1.00000001e30], 5) ?? '', /equal in float32/);
    assert.match(float32AxisProblem([1e30, 1.000001e30], 200) ?? '', /not distinct/);
  });
});

describe('decisionRegions', () => {
  it('answers a model with finite answers', async () => {
    const regions = await decisionRegions(answering(0.5), FACTS, REQUEST);
    assert.equal(regions.cells.length, 16);
    assert.deepEqual(regions.heldAt, { c: 0 });
  });

  it('NaN or Infinity answers: 400 over a range the caller chose, 422 over the default one', async () => {
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      assert.equal(await codeOf(decisionRegions(answering(value), FACTS, { ...REQUEST, xRange: [1e38, 2e38] })), 'invalid_input');
      assert.equal(await codeOf(decisionRegions(answering(value), FACTS, REQUEST)), 'unservable_output');
    }
  });

  it('refuses a given range float32 cannot evaluate before the model runs', async () => {
    let ran = false;
    const evaluate: Evaluate = async (rows, count) => {
      ran = true;
      return answering(0.5)(rows, count);
    };
    assert.equal(await codeOf(decisionRegions(evaluate, FACTS, { ...REQUEST, xRange: [-3e38, 3e38] })), 'invalid_input');
    assert.equal(ran, false);
  });

  it('refuses a derived range or held-at values that are not finite float32', async () => {
    const huge = { ...FACTS, standardization: { mean: [0, 0, 0], std: [1e38, 1, 1] } };
    assert.equal(await codeOf(decisionRegions(answering(0.5), huge, REQUEST)), 'invalid_input');
    const heldAtInfinity = { ...FACTS, standardization: { mean: [0, 0, 1e39], std: [1, 1, 1] } };
    assert.equal(await codeOf(decisionRegions(answering(0.5), heldAtInfinity, REQUEST)), 'invalid_input');
  });

  it('plots the first rows of the summary and ranges over all of them', async () => {
    const x = new Float32Array([0, 0, 0, 10, 10, 10]);
    const data = summarizeRunData({ x, y: new Float32Array([0, 1]) }, 3);
    const regions = await decisionRegions(answering(0.5), { ...FACTS, data }, REQUEST);
    assert.deepEqual(regions.xRange, [-1, 11]);
    assert.deepEqual(regions.heldAt, { c: 5 });
    assert.deepEqual(regions.points, [
      { x: 0, y: 0, label: 0 },
      { x: 10, y: 10, label: 1 },
    ]);
  });
});
