// `--sample` files: every accepted form, and each refusal naming what is wrong.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { importOnnx } from '../../src/export/graph/import-model.ts';
import type { InputSpec } from '../../src/export/graph/run-graph.ts';
import { parseSample } from '../../src/export/graph/sample.ts';
import { FLOAT, writeTensor } from '../../src/export/graph/tensor-values.ts';
import { encodeModel, makeGraph, makeModel, makeNode, makeTensorValueInfo } from '../../src/export/onnx/helpers.ts';
import { onnx } from '../../src/export/onnx/proto.ts';

const T = onnx.TensorProto.DataType;
const rows: InputSpec = { name: 'input', elemType: T.FLOAT, dims: ['batch', 4] };
const images: InputSpec = { name: 'input', elemType: T.FLOAT, dims: ['batch', 1, 6, 6] };
const buf = (text: string) => Buffer.from(text, 'utf8');

describe('parseSample', () => {
  test('.npy: the array PyTorch saved, as float32 of its shape', () => {
    const bytes = readFileSync(path.join(import.meta.dirname, '../fixtures/pytorch/cnn_sample.npy'));
    const feeds = parseSample('x.npy', bytes, [images]);
    assert.deepEqual(feeds.input.dims, [16, 1, 6, 6]);
    assert.ok(feeds.input.data instanceof Float32Array);
  });

  test('.csv: a header row is skipped, rows become [n, features]', () => {
    const feeds = parseSample('x.csv', buf('a,b,c,d\n1,2,3,4\n5,6,7,8\n'), [rows]);
    assert.deepEqual(feeds.input.dims, [2, 4]);
    assert.deepEqual([...feeds.input.data], [1, 2, 3, 4, 5, 6, 7, 8]);
  });

  test('.json: a nested array, inputs by name, or an OIP v2 body', () => {
    const nested = parseSample('x.json', buf('[[1, 2, 3, 4]]'), [rows]);
    assert.deepEqual(nested.input.dims, [1, 4]);
    const two: InputSpec[] = [
      { name: 'a', elemType: T.FLOAT, dims: ['n', 2] },
      { name: 'b', elemType: T.INT64, dims: ['n'] },
    ];
    const byName = parseSample('x.json', buf('{"a": [[1, 2]], "b": [7]}'), two);
    assert.deepEqual([...byName.b.data], [7n]);
    const v2 = parseSample('x.json', buf('{"inputs": [{"name": "input", "shape": [1, 4], "data": [1, 2, 3, 4]}]}'), [rows]);
    assert.deepEqual(v2.input.dims, [1, 4]);
  });

  test('refusals name the problem', () => {
    assert.throws(() => parseSample('x.csv', buf('1,2,3\n'), [rows]), /input "input" has shape \[1, 3\], the model declares \[batch, 4\]/);
    assert.throws(
      () => parseSample('x.csv', buf('1,2,3,4\n1,2\n'), [rows]),
      /--sample x\.csv: Invalid Record Length: expect 4, got 2 on line 2/,
    );
    assert.throws(() => parseSample('x.json', buf('[[1, 2], [3]]'), [rows]), /ragged/);
    assert.throws(() => parseSample('x.json', buf('[[1, "a", 3, 4]]'), [rows]), /data\[0\]\[1\] is not a finite number/);
    assert.throws(() => parseSample('x.json', buf('{"other": [[1, 2, 3, 4]]}'), [rows]), /no values for input "input"/);
    assert.throws(() => parseSample('x.txt', buf(''), [rows]), /use a \.npy, \.csv or \.json file/);
    const two: InputSpec[] = [rows, { ...rows, name: 'z' }];
    assert.throws(() => parseSample('x.csv', buf('1,2,3,4\n'), two), /holds one input, but the model has 2/);
  });
});

test('a model with two inputs is imported with a JSON sample, its BN folded', async () => {
  const graph = makeGraph(
    'two',
    [
      makeNode('Add', ['a', 'b'], ['s']),
      makeNode('Gemm', ['s', 'w'], ['y']),
      makeNode('BatchNormalization', ['y', 'g', 'beta', 'm', 'v'], ['out'], { name: 'bn' }),
    ],
    [makeTensorValueInfo('a', FLOAT, ['n', 2]), makeTensorValueInfo('b', FLOAT, ['n', 2])],
    [makeTensorValueInfo('out', FLOAT, ['n', 3])],
    [
      writeTensor('w', FLOAT, [2, 3], [1, 2, 3, 4, 5, 6]),
      writeTensor('g', FLOAT, [3], [1, 2, 3]),
      writeTensor('beta', FLOAT, [3], [0.1, 0.2, 0.3]),
      writeTensor('m', FLOAT, [3], [4, 5, 6]),
      writeTensor('v', FLOAT, [3], [2, 3, 4]),
    ],
  );
  const bytes = encodeModel(makeModel(graph, { opset: 17, irVersion: 8, producerName: 'test', producerVersion: '1', metadata: {} }));
  const specs: InputSpec[] = [
    { name: 'a', elemType: T.FLOAT, dims: ['n', 2] },
    { name: 'b', elemType: T.FLOAT, dims: ['n', 2] },
  ];
  const sample = parseSample('s.json', buf('{"a": [[1, 2], [3, 4]], "b": [[0.5, 0.5], [1, 1]]}'), specs);
  const result = await importOnnx({ onnx: bytes, sample });
  assert.deepEqual(
    result.folds.map((f) => f.op),
    ['Gemm'],
  );
  assert.deepEqual(
    result.inputs.map((i) => i.name),
    ['a', 'b'],
  );
  assert.equal(result.parity.rows, 2);
  assert.ok(result.parity.maxScaledDiff < 1e-6);
});
