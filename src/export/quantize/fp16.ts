// float16 weights and activations with float32 inputs and outputs: every float initializer (and float
// Constant) becomes float16, each float graph input is Cast to float16 once, each float graph output is
// Cast back to float32. Only graphs made of ops whose float inputs are all data (no float shape or scale
// inputs, no Cast) are converted; anything else is refused rather than half converted.
import { ExportError } from '../errors.ts';
import { makeNode } from '../onnx/helpers.ts';
import { onnx, type OnnxTypes } from '../onnx/proto.ts';
import { readTensor } from '../graph/tensor-values.ts';

const DataType = onnx.TensorProto.DataType;
export const FLOAT16_MAX = 65504;

/** Ops converted as they are: all their float inputs are tensors of data, typed alike. */
const FP16_OPS = new Set([
  'Gemm',
  'MatMul',
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Relu',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Tanh',
  'Sigmoid',
  'Softmax',
  'LogSoftmax',
  'Softplus',
  'Softsign',
  'HardSigmoid',
  'Conv',
  'MaxPool',
  'AveragePool',
  'GlobalAveragePool',
  'GlobalMaxPool',
  'Transpose',
  'Reshape',
  'Flatten',
  'Identity',
  'BatchNormalization',
  'Squeeze',
  'Unsqueeze',
  'Concat',
  'Constant',
]);

/** IEEE 754 half-precision bits of a number, rounded to nearest even (±Infinity beyond 65504 + half a step). */
export function toHalfBits(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Infinity, NaN
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mantissa | 0x800000;
    const shift = 14 - e;
    const half = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (half + (rest > mid || (rest === mid && half & 1) ? 1 : 0));
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and 65520+ to Infinity).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && half & 1) ? 1 : 0));
}

function halfTensor(t: OnnxTypes.ITensorProto): OnnxTypes.ITensorProto {
  const value = readTensor(t);
  if (!value) throw new ExportError(`fp16: tensor ${t.name} has an element type that cannot be read`);
  const bytes = new Uint8Array(value.values.length * 2);
  const view = new DataView(bytes.buffer);
  value.values.forEach((v, i) => {
    if (Math.abs(v) > FLOAT16_MAX) {
      throw new ExportError(`fp16: tensor ${t.name} holds ${v}, beyond float16's range (±${FLOAT16_MAX}); keep fp32`);
    }
    view.setUint16(i * 2, toHalfBits(v), true);
  });
  return { name: t.name, dims: t.dims, dataType: DataType.FLOAT16, rawData: bytes };
}

const isFloat = (t: OnnxTypes.ITensorProto) => t.dataType === DataType.FLOAT || t.dataType === DataType.DOUBLE;

/** Rewrites `model` in place to float16 inside, float32 at its inputs and outputs. */
export function convertFp16(model: OnnxTypes.IModelProto): void {
  const graph = model.graph!;
  const refused = [...new Set((graph.node ?? []).filter((n) => n.domain || !FP16_OPS.has(n.opType ?? '')).map((n) => n.opType))];
  if (refused.length > 0) throw new ExportError(`fp16: the graph has ops fp16 does not convert (${refused.join(', ')}); keep fp32`);
  graph.initializer = (graph.initializer ?? []).map((t) => (isFloat(t) ? halfTensor(t) : t));
  for (const node of graph.node ?? []) {
    for (const a of node.attribute ?? []) if (node.opType === 'Constant' && a.t && isFloat(a.t)) a.t = halfTensor(a.t);
  }
  const initializers = new Set(graph.initializer.map((t) => t.name));
  // Initializers some exporters also list as graph inputs: typed like the tensor now.
  for (const input of graph.input ?? []) {
    if (initializers.has(input.name) && input.type?.tensorType?.elemType === DataType.FLOAT)
      input.type.tensorType.elemType = DataType.FLOAT16;
  }
  const floatType = (v: OnnxTypes.IValueInfoProto) => v.type?.tensorType?.elemType === DataType.FLOAT;
  const casts: OnnxTypes.INodeProto[] = [];
  const rename = new Map<string, string>();
  for (const input of graph.input ?? []) {
    if (initializers.has(input.name) || !floatType(input)) continue;
    const half = `${input.name}/fp16`;
    rename.set(input.name ?? '', half);
    casts.push(
      makeNode('Cast', [input.name ?? ''], [half], { name: `${input.name}/to_float16`, attributes: { to: { int: DataType.FLOAT16 } } }),
    );
  }
  const tail: OnnxTypes.INodeProto[] = [];
  for (const output of graph.output ?? []) {
    if (!floatType(output)) continue;
    const name = output.name ?? '';
    const half = `${name}/fp16`;
    for (const node of graph.node ?? []) node.output = (node.output ?? []).map((o) => (o === name ? half : o));
    tail.push(
      makeNode('Cast', [rename.get(name) ?? half], [name], { name: `${name}/to_float32`, attributes: { to: { int: DataType.FLOAT } } }),
    );
  }
  for (const node of graph.node ?? []) node.input = (node.input ?? []).map((i) => rename.get(i) ?? i);
  // Inner types were float32: let onnxruntime infer them again.
  graph.valueInfo = [];
  graph.node = [...casts, ...(graph.node ?? []), ...tail];
}
