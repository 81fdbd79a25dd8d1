import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { importOnnx } from '../../src/export/graph/import-model.ts';
import { type Feeds, runGraph } from '../../src/export/graph/run-graph.ts';
import { FLOAT, writeTensor } from '../../src/export/graph/tensor-values.ts';
import {
  type Attributes,
  decodeModel,
  encodeModel,
  makeGraph,
  makeModel,
  makeNode,
  makeTensorValueInfo,
} from '../../src/export/onnx/helpers.ts';
import type { OnnxTypes } from '../../src/export/onnx/proto.ts';
import { createRng, normal } from '../../src/train/rng.ts';

const LIMITS = { maxMeanGap: 1, maxVarianceRatio: 2.5 };
const rng = createRng(7);
const randn = (n: number, scale = 1, offset = 0) => Array.from({ length: n }, () => offset + scale * normal(rng));
const positive = (n: number) => Array.from({ length: n }, () => 0.5 + rng());
const count = (dims: number[]) => dims.reduce((a, b) => a * b, 1);

/** A graph builder for the tests: initializers by name, nodes in order, one float input and output. */
class G {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly inits: OnnxTypes.ITensorProto[] = [];
  constant(name: string, dims: number[], values = randn(count(dims))): string {
    this.inits.push(writeTensor(name, FLOAT, dims, values));
    return name;
  }
  node(op: string, inputs: string[], output: string, attributes?: Attributes): string {
    this.nodes.push(makeNode(op, inputs, [output], { attributes }));
    return output;
  }
  bn(input: string, channels: number, name = `${input}_bn`, options: { mean?: number[]; variance?: number[] } = {}): string {
    const p = (k: string) => `${name}.${k}`;
    this.constant(p('scale'), [channels], randn(channels, 0.5, 1));
    this.constant(p('bias'), [channels], randn(channels, 0.3));
    this.constant(p('mean'), [channels], options.mean ?? randn(channels, 0.5));
    this.constant(p('var'), [channels], options.variance ?? positive(channels));
    this.nodes.push(
      makeNode('BatchNormalization', [input, p('scale'), p('bias'), p('mean'), p('var')], [name], {
        name,
        attributes: { epsilon: { float: 1e-3 } },
      }),
    );
    return name;
  }
  model(inputShape: Array<number | string>, output: string, opset = 17, outputs: string[] = [output]): Uint8Array {
    const graph = makeGraph(
      'g',
      this.nodes,
      [makeTensorValueInfo('x', FLOAT, inputShape)],
      outputs.map((o) => ({ name: o, type: { tensorType: { elemType: FLOAT } } })),
      this.inits,
    );
    return encodeModel(makeModel(graph, { opset, irVersion: 8, producerName: 'test', producerVersion: '1', metadata: {} }));
  }
}

function feedsFor(shape: number[]): Feeds {
  return { x: { dims: shape, data: Float32Array.from(randn(count(shape), 1.5, 0.2)) } };
}

const bnCount = (bytes: Uint8Array) => decodeModel(bytes).graph!.node!.filter((n) => n.opType === 'BatchNormalization').length;

/** Folds, then compares the folded graph with the unfolded one, both run by onnxruntime on the same inputs. */
async function foldAndCompare(bytes: Uint8Array, shape: number[]) {
  const feeds = feedsFor(shape);
  const result = await importOnnx({ onnx: bytes, sample: feeds, driftLimits: LIMITS, tolerance: 1 });
  const before = await runGraph(bytes, feeds);
  const after = await runGraph(result.onnx, feeds);
  let worst = 0;
  for (const [name, t] of Object.entries(before)) {
    const scale = Math.max(1, ...Array.from(t.data as ArrayLike<number>, (v) => Math.abs(v)));
    for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(Number(after[name].data[i]) - Number(t.data[i])) / scale);
  }
  return { result, worst };
}

describe('graph-level BN folding, each pattern against the unfolded graph in onnxruntime', () => {
  const cases: Array<{ name: string; shape: number[]; op: string; build: (g: G) => string; declared?: Array<number | string> }> = [
    {
      name: 'Conv with bias → BN',
      shape: [3, 2, 5, 5],
      op: 'Conv',
      build: (g) => g.bn(g.node('Conv', ['x', g.constant('w', [4, 2, 3, 3]), g.constant('b', [4])], 'c'), 4),
    },
    {
      name: 'grouped Conv without bias → BN',
      shape: [2, 4, 5, 5],
      op: 'Conv',
      build: (g) => g.bn(g.node('Conv', ['x', g.constant('w', [6, 2, 3, 3])], 'c', { group: { int: 2 } }), 6),
    },
    {
      name: 'ConvTranspose → BN',
      shape: [2, 3, 4, 4],
      op: 'ConvTranspose',
      build: (g) => g.bn(g.node('ConvTranspose', ['x', g.constant('w', [3, 5, 3, 3]), g.constant('b', [5])], 'c'), 5),
    },
    {
      name: 'grouped ConvTranspose → BN',
      shape: [2, 4, 4, 4],
      op: 'ConvTranspose',
      build: (g) =>
        g.bn(g.node('ConvTranspose', ['x', g.constant('w', [4, 3, 2, 2])], 'c', { group: { int: 2 }, strides: { ints: [2, 2] } }), 6),
    },
    {
      name: 'Gemm (transB, C of [N]) → BN',
      shape: [5, 3],
      op: 'Gemm',
      build: (g) => g.bn(g.node('Gemm', ['x', g.constant('w', [4, 3]), g.constant('b', [4])], 'y', { transB: { int: 1 } }), 4),
    },
    {
      name: 'Gemm (alpha, beta, scalar C) → BN',
      shape: [5, 3],
      op: 'Gemm',
      build: (g) =>
        g.bn(g.node('Gemm', ['x', g.constant('w', [3, 4]), g.constant('b', [])], 'y', { alpha: { float: 0.5 }, beta: { float: 2 } }), 4),
    },
    {
      name: 'Gemm without C → BN',
      shape: [5, 3],
      op: 'Gemm',
      build: (g) => g.bn(g.node('Gemm', ['x', g.constant('w', [3, 4])], 'y'), 4),
    },
    {
      name: 'MatMul → BN',
      shape: [5, 3],
      op: 'MatMul',
      build: (g) => g.bn(g.node('MatMul', ['x', g.constant('w', [3, 4])], 'y'), 4),
    },
    {
      name: 'MatMul + Add (bias first) → BN',
      shape: [5, 3],
      op: 'MatMul',
      build: (g) => g.bn(g.node('Add', [g.constant('b', [4]), g.node('MatMul', ['x', g.constant('w', [3, 4])], 'mm')], 'y'), 4),
    },
    {
      name: 'Conv → Identity → BN',
      shape: [2, 2, 4, 4],
      op: 'Conv',
      build: (g) => g.bn(g.node('Identity', [g.node('Conv', ['x', g.constant('w', [3, 2, 1, 1])], 'c')], 'i'), 3),
    },
    {
      name: 'Gemm → Reshape [N, C, 1] → BN',
      shape: [4, 3],
      op: 'Gemm',
      build: (g) => {
        const y = g.node('Gemm', ['x', g.constant('w', [3, 5])], 'y');
        g.inits.push({ name: 'shape', dims: [3], dataType: 7, int64Data: [0, 5, 1] });
        return g.bn(g.node('Reshape', [y, 'shape'], 'r'), 5);
      },
    },
    {
      name: 'Conv to a 1×1 map → Flatten → BN',
      shape: [3, 2, 3, 3],
      op: 'Conv',
      build: (g) => g.bn(g.node('Flatten', [g.node('Conv', ['x', g.constant('w', [4, 2, 3, 3])], 'c')], 'f'), 4),
    },
    {
      name: 'Conv with a computed bias → BN (Mul + Add on the bias path)',
      shape: [2, 2, 4, 4],
      op: 'Conv',
      build: (g) => {
        const bias = g.node('Add', [g.constant('b0', [3]), g.constant('b1', [3])], 'bias');
        return g.bn(g.node('Conv', ['x', g.constant('w', [3, 2, 3, 3]), bias], 'c', { pads: { ints: [1, 1, 1, 1] } }), 3);
      },
    },
    {
      name: 'BN params from a Constant node and an Identity',
      shape: [5, 3],
      op: 'Gemm',
      build: (g) => {
        const y = g.node('Gemm', ['x', g.constant('w', [3, 4])], 'y');
        const out = g.bn(y, 4, 'bn');
        g.inits.splice(
          g.inits.findIndex((t) => t.name === 'bn.mean'),
          1,
        );
        g.nodes.unshift(makeNode('Constant', [], ['bn.mean'], { attributes: {} }));
        g.nodes[0].attribute = [{ name: 'value', type: 4, t: writeTensor('m', FLOAT, [4], randn(4)) }];
        g.inits.splice(
          g.inits.findIndex((t) => t.name === 'bn.var'),
          1,
        );
        g.constant('var0', [4], positive(4));
        g.nodes.unshift(makeNode('Identity', ['var0'], ['bn.var']));
        return out;
      },
    },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const g = new G();
      const out = c.build(g);
      const bytes = g.model(['n', ...c.shape.slice(1)], out);
      const { result, worst } = await foldAndCompare(bytes, c.shape);
      assert.equal(bnCount(result.onnx), 0);
      assert.deepEqual(
        result.folds.map((f) => f.op),
        [c.op],
      );
      assert.ok(worst < 1e-5, `max relative difference ${worst}`);
    });
  }

  const affineCases: Array<{ name: string; shape: number[]; build: (g: G) => { out: string; outputs?: string[] } }> = [
    { name: 'BN on the graph input', shape: [4, 3, 2, 2], build: (g) => ({ out: g.bn('x', 3) }) },
    { name: 'BN after a Relu', shape: [4, 3], build: (g) => ({ out: g.bn(g.node('Relu', ['x'], 'r'), 3) }) },
    {
      name: 'Conv whose output is also a graph output',
      shape: [2, 2, 4, 4],
      build: (g) => {
        const c = g.node('Conv', ['x', g.constant('w', [3, 2, 3, 3])], 'c');
        return { out: g.bn(c, 3), outputs: [c] };
      },
    },
    {
      name: 'MatMul on rank-3 input (the channel axis is not the last one)',
      shape: [2, 4, 3],
      build: (g) => ({ out: g.bn(g.node('MatMul', ['x', g.constant('w', [3, 4])], 'y'), 4) }),
    },
  ];
  for (const c of affineCases) {
    test(`${c.name} → Mul + Add, other nodes untouched`, async () => {
      const g = new G();
      const { out, outputs = [] } = c.build(g);
      const bytes = g.model(['n', ...c.shape.slice(1)], out, 17, [out, ...outputs]);
      const { result, worst } = await foldAndCompare(bytes, c.shape);
      assert.equal(bnCount(result.onnx), 0);
      assert.deepEqual(
        result.folds.map((f) => f.op),
        ['Mul+Add'],
      );
      assert.ok(worst < 1e-5, `max relative difference ${worst}`);
    });
  }

  test('a weight shared by two Convs: the other Conv keeps the original weights', async () => {
    const g = new G();
    const w = g.constant('w', [2, 2, 1, 1]);
    const a = g.bn(g.node('Conv', ['x', w], 'a'), 2);
    const b = g.node('Conv', ['x', w], 'b');
    const out = g.node('Add', [a, b], 'sum');
    const { result, worst } = await foldAndCompare(g.model(['n', 2, 3, 3], out), [2, 2, 3, 3]);
    assert.deepEqual(
      result.folds.map((f) => f.op),
      ['Conv'],
    );
    assert.ok(worst < 1e-5, `max relative difference ${worst}`);
  });
});

describe('import refusals and flags', () => {
  test('a training-mode BN is refused and named, with what to do', async () => {
    const g = new G();
    const out = g.bn(g.node('Gemm', ['x', g.constant('w', [3, 4])], 'y'), 4, 'head_bn');
    g.nodes.at(-1)!.attribute!.push({ name: 'training_mode', type: 2, i: 1 });
    await assert.rejects(importOnnx({ onnx: g.model(['n', 3], out), driftLimits: LIMITS }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'invalid_input');
      assert.match(e.message, /training mode: BatchNormalization head_bn/);
      assert.match(e.message, /model\.eval\(\)/);
      return true;
    });
  });

  test('an opset outside 13–21 is refused', async () => {
    const g = new G();
    const out = g.node('Relu', ['x'], 'y');
    await assert.rejects(importOnnx({ onnx: g.model(['n', 3], out, 12), driftLimits: LIMITS }), /opset 12/);
  });

  test('weights kept in an external data file are refused with how to inline them', async () => {
    const g = new G();
    const out = g.node('Gemm', ['x', g.constant('w', [3, 4])], 'y');
    Object.assign(g.inits[0], {
      rawData: new Uint8Array(0),
      dataLocation: 1,
      externalData: [{ key: 'location', value: 'model.onnx.data' }],
    });
    await assert.rejects(
      importOnnx({ onnx: g.model(['n', 3], out) }),
      /tensor w is stored in an external data file.*save_as_external_data=False/,
    );
  });

  test('bytes that are not ONNX are refused', async () => {
    await assert.rejects(importOnnx({ onnx: new TextEncoder().encode('{"not": "onnx"}'), driftLimits: LIMITS }), /not an ONNX model/);
  });

  test('statistics still at mean 0 / variance 1 are flagged as never updated', async () => {
    const g = new G();
    const out = g.bn(g.node('Gemm', ['x', g.constant('w', [3, 4])], 'y'), 4, 'fresh', { mean: [0, 0, 0, 0], variance: [1, 1, 1, 1] });
    const result = await importOnnx({ onnx: g.model(['n', 3], out), driftLimits: LIMITS });
    assert.deepEqual(result.untrained, ['fresh']);
    assert.match(result.bnGuardWarning ?? '', /moving statistics were never updated: BatchNormalization fresh/);
    assert.equal(bnCount(result.onnx), 0);
  });

  test('with a sample, statistics far from what the BN sees are flagged as drift', async () => {
    const g = new G();
    const out = g.bn('x', 2, 'off', { mean: [10, 0], variance: [1, 1] });
    const sample: Feeds = { x: { dims: [64, 2], data: Float32Array.from(randn(128)) } };
    const result = await importOnnx({ onnx: g.model(['n', 2], out), sample, driftLimits: LIMITS });
    assert.equal(result.drift?.length, 1);
    assert.ok(result.drift![0].meanGap > 5);
    assert.match(result.bnGuardWarning ?? '', /off: moving statistics do not match the sample/);
  });

  test('a model without BN is accepted unchanged in its answers, folded: false', async () => {
    const g = new G();
    const out = g.node('Gemm', ['x', g.constant('w', [3, 2])], 'y');
    const result = await importOnnx({ onnx: g.model(['n', 3], out), driftLimits: LIMITS });
    assert.equal(result.folds.length, 0);
    assert.equal(result.parity.maxAbsDiff, 0);
    assert.equal(result.bnGuardWarning, null);
  });

  test('an input with a dynamic non-batch dimension needs a sample', async () => {
    const g = new G();
    const out = g.node('Relu', ['x'], 'y');
    await assert.rejects(
      importOnnx({ onnx: g.model(['n', 'width'], out), driftLimits: LIMITS }),
      /dynamic dimension on axis 1 \(width\).*--sample/,
    );
  });
});
