// Small ONNX models built with onnx-proto, and the same maths in plain JS (float64) as the reference.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import type { RegisterVersionInput } from '../../src/registry/types.ts';
import { createRng } from '../../src/train/rng.ts';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;

export const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
export const LABELS = ['setosa', 'versicolor', 'virginica'];

/** Deterministic pseudo-random numbers in [-1, 1). */
function uniformSigned(seed: number): () => number {
  const rng = createRng(seed);
  return () => rng() * 2 - 1;
}

/** Rounds to float32 so that the JS reference uses exactly the weights stored in the graph. */
const f32 = (x: number) => Math.fround(x);

export interface MlpParams {
  mean: number[];
  std: number[];
  /** [in][hidden] */
  w1: number[][];
  b1: number[];
  /** [hidden][out] */
  w2: number[][];
  b2: number[];
}

export function randomMlp(seed: number, inputs = 4, hidden = 6, outputs = 3): MlpParams {
  const r = uniformSigned(seed);
  const matrix = (rows: number, cols: number) => Array.from({ length: rows }, () => Array.from({ length: cols }, () => f32(r())));
  return {
    mean: Array.from({ length: inputs }, () => f32(3 + 2 * r())),
    std: Array.from({ length: inputs }, () => f32(1 + 0.5 * r())),
    w1: matrix(inputs, hidden),
    b1: Array.from({ length: hidden }, () => f32(0.1 * r())),
    w2: matrix(hidden, outputs),
    b2: Array.from({ length: outputs }, () => f32(0.1 * r())),
  };
}

function tensor(name: string, dims: number[], values: number[]) {
  return onnx.TensorProto.create({ name, dims, dataType: FLOAT, floatData: values });
}

function valueInfo(name: string, dims: (string | number)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
}

function node(opType: string, input: string[], output: string[], attribute: ReturnType<typeof onnx.AttributeProto.create>[] = []) {
  return onnx.NodeProto.create({ opType, input, output, name: `${opType}_${output[0]}`, attribute });
}

/**
 * input [batch, F] → (x - mean) / std → Gemm → Relu → Gemm → Softmax ("probabilities") or
 * identity ("prediction"), opset 17, IR 8, dynamic batch.
 */
export function mlpOnnx(p: MlpParams, task: 'classification' | 'regression'): Uint8Array {
  const inputs = p.mean.length;
  const hidden = p.b1.length;
  const outputs = p.b2.length;
  const outName = task === 'classification' ? 'probabilities' : 'prediction';
  const nodes = [
    node('Sub', ['input', 'mean'], ['centered']),
    node('Div', ['centered', 'std'], ['standardized']),
    node('Gemm', ['standardized', 'w1', 'b1'], ['h1']),
    node('Relu', ['h1'], ['a1']),
    node('Gemm', ['a1', 'w2', 'b2'], [task === 'classification' ? 'logits' : outName]),
  ];
  if (task === 'classification') {
    nodes.push(
      node(
        'Softmax',
        ['logits'],
        [outName],
        [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
      ),
    );
  }
  const graph = onnx.GraphProto.create({
    name: 'bnserve_fixture',
    node: nodes,
    initializer: [
      tensor('mean', [inputs], p.mean),
      tensor('std', [inputs], p.std),
      tensor('w1', [inputs, hidden], p.w1.flat()),
      tensor('b1', [hidden], p.b1),
      tensor('w2', [hidden, outputs], p.w2.flat()),
      tensor('b2', [outputs], p.b2),
    ],
    input: [valueInfo('input', ['batch', inputs])],
    output: [valueInfo(outName, ['batch', outputs])],
  });
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'bnserve-test',
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}

/** The same network in float64 JS: one output row per input row. */
export function mlpReference(p: MlpParams, task: 'classification' | 'regression', rows: number[][]): number[][] {
  return rows.map((row) => {
    const x = row.map((v, i) => (Math.fround(v) - p.mean[i]) / p.std[i]);
    const h = p.b1.map((b, j) => Math.max(0, b + x.reduce((s, xi, i) => s + xi * p.w1[i][j], 0)));
    const z = p.b2.map((b, k) => b + h.reduce((s, hj, j) => s + hj * p.w2[j][k], 0));
    if (task === 'regression') return z;
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  });
}

/** Registry input for a fixture model, as the trainer would register it. */
export function versionInput(name: string, p: MlpParams, task: 'classification' | 'regression'): RegisterVersionInput {
  const outName = task === 'classification' ? 'probabilities' : 'prediction';
  return {
    name,
    runId: null,
    artifact: mlpOnnx(p, task),
    opset: 17,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, p.mean.length] }],
    outputs: [{ name: outName, datatype: 'FP32', shape: [-1, p.b2.length] }],
    task,
    classLabels: task === 'classification' ? LABELS.slice(0, p.b2.length) : [],
    featureNames: FEATURES.slice(0, p.mean.length),
    parityMaxAbsDiff: 0,
    folded: true,
  };
}

/** Iris-like rows on the raw feature scale. */
export const IRIS_ROWS: number[][] = [
  [5.1, 3.5, 1.4, 0.2],
  [7.0, 3.2, 4.7, 1.4],
  [6.3, 3.3, 6.0, 2.5],
  [4.9, 3.0, 1.4, 0.2],
  [6.8, 2.8, 4.8, 1.4],
  [6.0, 3.4, 4.5, 1.6],
];

export function maxAbsDiff(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return Infinity;
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** Relu of "input" [batch, 4] → "out" [batch, 4]: the smallest valid model. */
export function reluOnnx(): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'relu',
    node: [node('Relu', ['input'], ['out'])],
    input: [valueInfo('input', ['batch', 4])],
    output: [valueInfo('out', ['batch', 4])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph })).finish();
}

/** Two inputs ("a" [batch, 2], "b" [batch, 2]) added: "sum" [batch, 2]. */
export function addOnnx(): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'add',
    node: [node('Add', ['a', 'b'], ['sum'])],
    input: [valueInfo('a', ['batch', 2]), valueInfo('b', ['batch', 2])],
    output: [valueInfo('sum', ['batch', 2])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph })).finish();
}

/** The CUDA provider library ships next to the binding only when onnxruntime-node was installed with CUDA. */
export function cudaLibraryPresent(): boolean {
  const dist = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node'));
  return existsSync(path.join(dist, '..', 'bin', 'napi-v6', process.platform, process.arch, 'libonnxruntime_providers_cuda.so'));
}

/**
 * A folded BN MLP as the exporter writes it (Gemm → Relu per hidden layer, Softmax head) with
 * random weights: e.g. sizes [784, 1024, 1024, 10] is the 784-1024-BN-1024-BN-10 network after
 * folding. Weights go in raw_data (float32 little-endian) so that large layers encode quickly.
 */
export function deepMlpOnnx(seed: number, sizes: readonly number[]): Uint8Array {
  const r = uniformSigned(seed);
  const raw = (name: string, dims: number[], scale: number) => {
    const values = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < values.length; i++) values[i] = r() * scale;
    return onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: new Uint8Array(values.buffer) });
  };
  const nodes: ReturnType<typeof node>[] = [];
  const initializer: ReturnType<typeof raw>[] = [];
  let current = 'input';
  for (let l = 0; l + 1 < sizes.length; l++) {
    const last = l + 2 === sizes.length;
    initializer.push(raw(`w${l}`, [sizes[l], sizes[l + 1]], Math.sqrt(3 / sizes[l])), raw(`b${l}`, [sizes[l + 1]], 0.1));
    const z = last ? 'logits' : `z${l}`;
    nodes.push(node('Gemm', [current, `w${l}`, `b${l}`], [z]));
    if (!last) {
      nodes.push(node('Relu', [z], [`a${l}`]));
      current = `a${l}`;
    }
  }
  nodes.push(
    node(
      'Softmax',
      ['logits'],
      ['probabilities'],
      [onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
    ),
  );
  const graph = onnx.GraphProto.create({
    name: 'bnserve_deep_mlp',
    node: nodes,
    initializer,
    input: [valueInfo('input', ['batch', sizes[0]])],
    output: [valueInfo('probabilities', ['batch', sizes[sizes.length - 1]])],
  });
  return onnx.ModelProto.encode(onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph })).finish();
}

/** Registry input for deepMlpOnnx: classification over sizes.at(-1) classes, no feature names. */
export function deepMlpVersionInput(name: string, seed: number, sizes: readonly number[]): RegisterVersionInput {
  const classes = sizes[sizes.length - 1];
  return {
    name,
    runId: null,
    artifact: deepMlpOnnx(seed, sizes),
    opset: 17,
    inputs: [{ name: 'input', datatype: 'FP32', shape: [-1, sizes[0]] }],
    outputs: [{ name: 'probabilities', datatype: 'FP32', shape: [-1, classes] }],
    task: 'classification',
    classLabels: Array.from({ length: classes }, (_, k) => `class_${k}`),
    featureNames: [],
    parityMaxAbsDiff: 0,
    folded: true,
  };
}

/** A two-input model (sum = a + b, each [batch, 2]) registered under `name`, for multi-input routes. */
export function pairVersionInput(name: string, base: RegisterVersionInput): RegisterVersionInput {
  return {
    ...base,
    name,
    artifact: addOnnx(),
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [-1, 2] },
      { name: 'b', datatype: 'FP32', shape: [-1, 2] },
    ],
    outputs: [{ name: 'sum', datatype: 'FP32', shape: [-1, 2] }],
    featureNames: [],
  };
}
