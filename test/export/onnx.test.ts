import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeModel,
  encodeModel,
  makeFloatTensor,
  makeGraph,
  makeModel,
  makeNode,
  makeTensorValueInfo,
  FLOAT,
  readMetadata,
} from '../../src/export/onnx/helpers.ts';
import { convKernelToOnnx, nchwFlattenToNhwc, permuteRows, samePadding } from '../../src/export/onnx/layout.ts';
import { runOnnx } from '../../src/export/ort-runner.ts';

describe('layout conversions', () => {
  test('tfjs conv kernel [kh, kw, in, out] becomes ONNX [out, in, kh, kw]', () => {
    // kh=1, kw=2, in=1, out=2; tfjs order: (x0,o0) (x0,o1) (x1,o0) (x1,o1)
    assert.deepEqual(Array.from(convKernelToOnnx([1, 2, 3, 4], 1, 2, 1, 2)), [1, 3, 2, 4]);
    // kh=2, kw=1, in=2, out=1; tfjs order: (y0,i0) (y0,i1) (y1,i0) (y1,i1) → ONNX (i0: y0 y1) (i1: y0 y1)
    assert.deepEqual(Array.from(convKernelToOnnx([1, 2, 3, 4], 2, 1, 2, 1)), [1, 3, 2, 4]);
  });

  test('NCHW flatten positions map to the tfjs NHWC flatten positions', () => {
    // h=1, w=2, c=3: NCHW flat is (c0w0 c0w1 c1w0 c1w1 c2w0 c2w1); tfjs flat is (w0: c0 c1 c2)(w1: c0 c1 c2)
    assert.deepEqual(Array.from(nchwFlattenToNhwc(1, 2, 3)), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(Array.from(permuteRows(Float64Array.from([10, 11, 20, 21, 30, 31]), 2, [2, 0, 1])), [30, 31, 10, 11, 20, 21]);
  });

  test("TensorFlow 'same' padding puts the odd cell at the end", () => {
    assert.deepEqual(samePadding(5, 3, 1), [1, 1]);
    assert.deepEqual(samePadding(6, 3, 2), [0, 1]);
    assert.deepEqual(samePadding(6, 2, 1), [0, 1]);
    assert.deepEqual(samePadding(4, 1, 2), [0, 0]);
  });
});

describe('ONNX constructors and encoding', () => {
  test('a hand-built Gemm model encodes, decodes with its metadata, and runs in onnxruntime', async () => {
    const graph = makeGraph(
      'g',
      [makeNode('Gemm', ['x', 'w', 'b'], ['y'])],
      [makeTensorValueInfo('x', FLOAT, ['batch', 2])],
      [makeTensorValueInfo('y', FLOAT, ['batch', 3])],
      [makeFloatTensor('w', [2, 3], [1, 2, 3, 4, 5, 6]), makeFloatTensor('b', [3], [0.5, -0.5, 0])],
    );
    const bytes = encodeModel(
      makeModel(graph, { opset: 17, irVersion: 8, producerName: 'test', producerVersion: '1', metadata: { folded: 'true' } }),
    );
    const decoded = decodeModel(bytes);
    assert.equal(Number(decoded.irVersion), 8);
    assert.equal(Number(decoded.opsetImport[0].version), 17);
    assert.deepEqual(readMetadata(decoded), { folded: 'true' });
    const y = await runOnnx(bytes, Float32Array.from([1, 1, 2, 0]), [2, 2], { input: 'x', output: 'y' });
    assert.deepEqual(Array.from(y), [5.5, 6.5, 9, 2.5, 3.5, 6]);
  });

  test('a tensor with the wrong number of values is refused', () => {
    assert.throws(() => makeFloatTensor('t', [2, 2], [1, 2, 3]), /3 values for shape \[2, 2\]/);
  });
});
