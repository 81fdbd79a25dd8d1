import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../src/serve/dataplane/errors.ts';
import { BnserveError } from '../../src/lib/errors.ts';
import { assertFiniteOutput, classPredictions, regressionPredictions } from '../../src/serve/dataplane/predictions.ts';
import { decodeTensorData, rowsToTensor, v2Datatype, type DecodeOptions } from '../../src/serve/dataplane/tensor-data.ts';
import { sliceRows } from '../../src/serve/dataplane/batcher.ts';
import { toOutputs } from '../../src/serve/dataplane/model-runner.ts';

const fp32: DecodeOptions = { datatype: 'FP32', target: 'float32', where: 'data', maxElements: 1000 };
const rejects = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
    assert.equal(err.code, 'invalid_input');
    assert.match(err.message, message);
    return true;
  });

describe('decodeTensorData', () => {
  it('reads flat and nested data in row-major order', () => {
    assert.deepEqual([...decodeTensorData([1, 2, 3, 4, 5, 6], [2, 3], fp32)], [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(
      [
        ...decodeTensorData(
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
          [2, 3],
          fp32,
        ),
      ],
      [1, 2, 3, 4, 5, 6],
    );
    const cube = decodeTensorData(
      [
        [[1], [2]],
        [[3], [4]],
      ],
      [2, 2, 1],
      { ...fp32, target: 'float64' },
    );
    assert.ok(cube instanceof Float64Array);
    assert.deepEqual([...cube], [1, 2, 3, 4]);
  });

  it('converts FP64 and INT64 requests to the model type', () => {
    const fromFp64 = decodeTensorData([0.1, 2], [1, 2], { ...fp32, datatype: 'FP64' });
    assert.ok(fromFp64 instanceof Float32Array);
    assert.equal(fromFp64[0], Math.fround(0.1));
    assert.deepEqual([...decodeTensorData([3, -4], [1, 2], { ...fp32, datatype: 'INT64' })], [3, -4]);
    assert.deepEqual([...decodeTensorData([3, -4], [1, 2], { ...fp32, target: 'int64' })], [3n, -4n]);
  });

  it('rejects data whose length does not match the shape', () => {
    rejects(() => decodeTensorData([1, 2, 3], [1, 4], fp32), /data: has 3 values but shape \[1, 4\] needs 4/);
    rejects(() => decodeTensorData([[1, 2], [3]], [2, 2], fp32), /data\[1\]: has length 1 but shape \[2, 2\] needs 2 at dimension 1/);
    rejects(() => decodeTensorData([[1, 2]], [2, 2], fp32), /data: has length 1 .* needs 2 at dimension 0/);
    rejects(() => decodeTensorData([[1, 2], 3], [2, 2], fp32), /data\[1\]: expected an array/);
  });

  it('rejects strings, booleans, null, NaN and Infinity, naming the element', () => {
    rejects(() => decodeTensorData([1, '2'], [1, 2], fp32), /data\[1\]: expected a number, got string "2"/);
    rejects(() => decodeTensorData([[1, true]], [1, 2], fp32), /data\[0\]\[1\]: expected a number, got boolean/);
    rejects(() => decodeTensorData([null, 1], [1, 2], fp32), /data\[0\]: expected a number, got null/);
    rejects(() => decodeTensorData([NaN, 1], [1, 2], fp32), /data\[0\]: expected a finite number, got NaN/);
    // JSON.parse turns 1e999 into Infinity: the one way a non-finite number reaches us over JSON.
    const parsed = JSON.parse('[1, 1e999]') as number[];
    rejects(() => decodeTensorData(parsed, [1, 2], fp32), /data\[1\]: expected a finite number, got Infinity/);
  });

  it('rejects values the target type cannot hold', () => {
    rejects(() => decodeTensorData([1e39, 0], [1, 2], fp32), /outside the float32 range/);
    rejects(() => decodeTensorData([1.5, 0], [1, 2], { ...fp32, datatype: 'INT64' }), /data\[0\]: expected an integer, got 1.5/);
    rejects(() => decodeTensorData([2 ** 40, 0], [1, 2], { ...fp32, datatype: 'INT32' }), /outside the INT32 range/);
    rejects(() => decodeTensorData([2 ** 60, 0], [1, 2], { ...fp32, datatype: 'INT64' }), /cannot be represented exactly/);
  });

  it('refuses shapes claiming more elements than the limit before allocating', () => {
    rejects(() => decodeTensorData([[1, 2]], [1, 1e9], fp32), /has 1000000000 elements, more than the limit of 1000/);
  });
});

describe('rowsToTensor', () => {
  const opts = { target: 'float32' as const, rowShape: [3], featureNames: ['a', 'b', 'c'] };

  it('takes rows as arrays or objects keyed by feature name, in feature order', () => {
    assert.deepEqual([...rowsToTensor([[1, 2, 3], { c: 6, a: 4, b: 5 }], opts)], [1, 2, 3, 4, 5, 6]);
  });

  it('takes nested rows for image-like inputs', () => {
    const image = rowsToTensor(
      [
        [
          [1, 2],
          [3, 4],
        ],
      ],
      { target: 'float32', rowShape: [2, 2], featureNames: [] },
    );
    assert.deepEqual([...image], [1, 2, 3, 4]);
  });

  it('names the row and feature that is wrong', () => {
    rejects(
      () =>
        rowsToTensor(
          [
            [1, 2, 3],
            [1, 2],
          ],
          opts,
        ),
      /instances\[1\]: has 2 values but shape \[3\] needs 3/,
    );
    rejects(() => rowsToTensor([[]], opts), /instances\[0\]: is empty/);
    rejects(() => rowsToTensor([{ a: 1, b: 2 }], opts), /instances\[0\]: missing feature "c"/);
    rejects(() => rowsToTensor([{ a: 1, b: 2, c: 3, d: 4 }], opts), /instances\[0\]: unknown feature "d"/);
    rejects(() => rowsToTensor([{ a: 1, b: '2', c: 3 }], opts), /instances\[0\]\.b: expected a number, got string/);
    rejects(() => rowsToTensor(['1,2,3'], opts), /instances\[0\]: expected an array of 3 numbers or an object/);
    rejects(() => rowsToTensor([{ a: 1 }], { ...opts, featureNames: [] }), /takes rows as arrays of shape \[3\], not objects/);
  });
});

describe('predictions', () => {
  it('labels each row with the arg max and its probabilities', () => {
    const out = { shape: [2, 3], data: Float32Array.from([0.1, 0.7, 0.2, 0.5, 0.2, 0.3]) };
    const p = classPredictions(out, ['a', 'b', 'c']);
    assert.deepEqual(
      p.map((r) => r.label),
      ['b', 'a'],
    );
    assert.equal(p[1].probabilities.c, Math.fround(0.3));
    assert.deepEqual(
      classPredictions(out, []).map((r) => r.label),
      ['1', '0'],
      'class indices without labels',
    );
  });

  it('gives a number per row for [batch, 1] regression outputs, arrays otherwise', () => {
    assert.deepEqual(regressionPredictions({ shape: [2, 1], data: Float32Array.from([1.5, -2]) }), [
      { prediction: 1.5 },
      { prediction: -2 },
    ]);
    assert.deepEqual(regressionPredictions({ shape: [1, 2], data: Float32Array.from([1, 2]) }), [{ prediction: [1, 2] }]);
  });

  it('rejects non-finite outputs with a 422 naming the row', () => {
    assert.throws(
      () => assertFiniteOutput('probabilities', { shape: [2, 2], data: Float32Array.from([0.5, 0.5, NaN, 1]) }),
      (err: unknown) => err instanceof BnserveError && err.code === 'unservable_output' && /row 1/.test(err.message),
    );
    assert.doesNotThrow(() => assertFiniteOutput('p', { shape: [1, 2], data: Float32Array.from([0.5, 0.5]) }));
  });

  it('maps onnxruntime types to protocol datatypes', () => {
    assert.equal(v2Datatype('float32'), 'FP32');
    assert.equal(v2Datatype('int64'), 'INT64');
    assert.equal(v2Datatype('string'), 'BYTES');
  });
});

describe('output tensors (one type, dataplane/tensors.ts OutputTensor, from the run to the answer)', () => {
  it('leave the runner named, with protocol datatypes and a shape of their own', () => {
    const data = Float32Array.from([0.1, 0.9, 0.4, 0.6]);
    const dims = [2, 2];
    const outputs = toOutputs({
      probabilities: { type: 'float32', dims, data },
      ids: { type: 'int64', dims: [2], data: new BigInt64Array(2) },
    });
    assert.deepEqual(Object.keys(outputs.probabilities).sort(), ['data', 'datatype', 'name', 'shape'], 'the fields OutputTensor declares');
    assert.deepEqual(outputs.probabilities, { name: 'probabilities', datatype: 'FP32', shape: [2, 2], data });
    assert.notEqual(outputs.probabilities.shape, dims, 'a copy: onnxruntime keeps its dims');
    assert.equal(outputs.ids.datatype, 'INT64');
  });

  it('keep their name and datatype when the scheduler splits a merged batch by rows', () => {
    const merged = toOutputs({ y: { type: 'float32', dims: [3, 2], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } });
    const part = sliceRows(merged, 1, 2, 3).y;
    assert.deepEqual({ ...part, data: [...part.data] }, { name: 'y', datatype: 'FP32', shape: [2, 2], data: [3, 4, 5, 6] });
    assert.throws(() => sliceRows(merged, 0, 1, 4), /output y has no batch dimension \(shape \[3, 2\]\)/);
  });
});
