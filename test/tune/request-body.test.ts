// The request body `bnserve tune` sends: the version's stored warm-up rows when they fit its
// signature, else seeded random rows of the right shape and type.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TensorSignature } from '../../src/registry/types.ts';
import { tuneRequest } from '../../src/tune/request-body.ts';

const IRIS: TensorSignature[] = [{ name: 'input', datatype: 'FP32', shape: [-1, 4] }];
const SAMPLE = {
  inputs: [{ name: 'input', shape: [2, 4], datatype: 'FP32' as const, data: [5.1, 3.5, 1.4, 0.2, 6.3, 2.9, 5.6, 1.8] }],
};

test('the warm-up rows, repeated to the rows asked for', () => {
  const { body, rowSource } = tuneRequest(IRIS, 3, SAMPLE);
  assert.equal(rowSource, 'warm-up sample');
  assert.deepEqual(body, {
    inputs: [{ name: 'input', shape: [3, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2, 6.3, 2.9, 5.6, 1.8, 5.1, 3.5, 1.4, 0.2] }],
  });
});

test('no sample: seeded random rows of the signature shape, the same for the same seed', () => {
  const a = tuneRequest(IRIS, 2, null);
  assert.equal(a.rowSource, 'random (seeded)');
  assert.deepEqual(a.body.inputs[0].shape, [2, 4]);
  assert.equal(a.body.inputs[0].data.length, 8);
  assert.ok(a.body.inputs[0].data.every(Number.isFinite));
  assert.deepEqual(tuneRequest(IRIS, 2, null).body, a.body);
  assert.notDeepEqual(tuneRequest(IRIS, 2, null, 2).body, a.body);
});

test('a sample that does not fit the signature is not used', () => {
  const wide: TensorSignature[] = [{ name: 'input', datatype: 'FP32', shape: [-1, 5] }];
  const { body, rowSource } = tuneRequest(wide, 1, SAMPLE);
  assert.equal(rowSource, 'random (seeded)');
  assert.deepEqual(body.inputs[0].shape, [1, 5]);
});

test('image inputs: dynamic inner dimensions become 1; integer inputs get integers', () => {
  const image: TensorSignature[] = [
    { name: 'pixels', datatype: 'FP32', shape: [-1, 2, -1, 3] },
    { name: 'ids', datatype: 'INT64', shape: [-1, 2] },
  ];
  const { body } = tuneRequest(image, 2, null);
  assert.deepEqual(body.inputs[0].shape, [2, 2, 1, 3]);
  assert.equal(body.inputs[0].data.length, 12);
  assert.ok(body.inputs[1].data.every(Number.isInteger));
});

test('a non-numeric input is refused with a clear message', () => {
  assert.throws(
    () => tuneRequest([{ name: 'text', datatype: 'BYTES', shape: [-1, 1] }], 1, null),
    /input text is BYTES: tune can only make numeric rows/,
  );
});
