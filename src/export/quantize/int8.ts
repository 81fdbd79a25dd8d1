// int8 dynamic quantization of an ONNX graph's Gemm/MatMul weights: onnxruntime's own dynamic pattern,
// written as a pure rewrite of the (already folded) graph. For every Gemm or MatMul whose weight is a
// constant 2-D float tensor:
//   x ─ DynamicQuantizeLinear ─► x_q (uint8), x_scale, x_zero_point
//   MatMulInteger(x_q, W_q + 128 as uint8 [K, M], x_zero_point, 128) ─► int32 ─ Cast ─► float
//   × (x_scale · w_scale[M])  (per output channel)  + bias
// Weights are quantized symmetrically per output column: w_scale[j] = max_k |W[k, j]| / 127,
// W_q = round(W / w_scale) in [-127, 127]. Inputs and outputs stay float32.
// They are stored as uint8 with zero point 128, not as int8: onnxruntime multiplies uint8 × int8 on
// x86 CPUs without VNNI (AVX2, AVX-512F) with an instruction that saturates pairs of products at
// int16, which cost a random 64-256-256-10 MLP 6 points of top-1 agreement on such a CPU (92% instead of
// 98%); its uint8 × uint8 kernel sums exactly, so the same artifact computes the same integers on every CPU.
import { FLOAT, makeFloatTensor, makeNode } from '../onnx/helpers.ts';
import { onnx, type OnnxTypes } from '../onnx/proto.ts';
import { GraphIndex, numberAttribute } from '../graph/graph-index.ts';

type Node = OnnxTypes.INodeProto;

export const INT8_MAX = 127;

export interface QuantizedWeight {
  /** Row-major [K, M] like the float weight. */
  q: Int8Array;
  /** One scale per output column (M). */
  scales: Float32Array;
}

/** Symmetric per-column int8 of a row-major [K, M] matrix; an all-zero column gets scale 1. */
export function quantizeColumns(values: ArrayLike<number>, k: number, m: number): QuantizedWeight {
  const scales = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    let max = 0;
    for (let i = 0; i < k; i++) max = Math.max(max, Math.abs(values[i * m + j]));
    scales[j] = max > 0 ? max / INT8_MAX : 1;
  }
  const q = new Int8Array(k * m);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < m; j++) {
      // |value| ≤ max, so the quotient stays within ±127 (the float32 scale can only round it to 127.0…01).
      q[i * m + j] = Math.round(values[i * m + j] / scales[j]);
    }
  }
  return { q, scales };
}

/** A row-major [r, c] matrix transposed to [c, r]. */
export function transpose(values: ArrayLike<number>, r: number, c: number): Float64Array {
  const out = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = values[i * c + j];
  return out;
}

/** The weights' zero point as stored: symmetric int8 values shifted into uint8. */
export const WEIGHT_ZERO_POINT = 128;

function shiftedUint8Tensor(name: string, dims: number[], values: Int8Array): OnnxTypes.ITensorProto {
  const shifted = Uint8Array.from(values, (v) => v + WEIGHT_ZERO_POINT);
  return { name, dims, dataType: onnx.TensorProto.DataType.UINT8, rawData: shifted };
}

export interface QuantizeResult {
  /** The nodes rewritten (their names). */
  quantized: string[];
}

/**
 * Rewrites `model` in place: each eligible Gemm/MatMul becomes the dynamic-quantization pattern above.
 * A Gemm with transA, alpha ≠ 1 or beta ≠ 1 (on a bias) is left as it is; so is any node whose weight is
 * not a constant 2-D float tensor. Weight initializers no other node reads are dropped.
 */
export function quantizeInt8(model: OnnxTypes.IModelProto): QuantizeResult {
  const graph = model.graph!;
  const index = new GraphIndex(graph);
  const quantized: string[] = [];
  const nodes: Node[] = [];
  const added: OnnxTypes.ITensorProto[] = [];
  const replacedWeights = new Set<string>();
  for (const node of graph.node ?? []) {
    const rewritten = rewrite(node, index, added, `q${quantized.length}`);
    if (!rewritten) {
      nodes.push(node);
      continue;
    }
    quantized.push(node.name || node.output?.[0] || node.opType || '');
    replacedWeights.add(node.input?.[1] ?? '');
    nodes.push(...rewritten);
  }
  // Drop float weights nothing reads any more (a shared weight stays).
  const stillRead = new Set(nodes.flatMap((n) => n.input ?? []));
  for (const o of graph.output ?? []) stillRead.add(o.name ?? '');
  const dropped = new Set([...replacedWeights].filter((w) => !stillRead.has(w) && index.initializers.has(w)));
  graph.initializer = [...(graph.initializer ?? []).filter((t) => !dropped.has(t.name ?? '')), ...added];
  graph.input = (graph.input ?? []).filter((i) => !dropped.has(i.name ?? ''));
  graph.node = nodes;
  return { quantized };
}

function rewrite(node: Node, index: GraphIndex, added: OnnxTypes.ITensorProto[], tag: string): Node[] | null {
  if (node.domain || (node.opType !== 'Gemm' && node.opType !== 'MatMul')) return null;
  const [x, w, c] = node.input ?? [];
  const out = node.output?.[0];
  if (!x || !w || !out) return null;
  const gemm = node.opType === 'Gemm';
  if (gemm && (numberAttribute(node, 'transA', 0) !== 0 || numberAttribute(node, 'alpha', 1) !== 1)) return null;
  if (gemm && c && numberAttribute(node, 'beta', 1) !== 1) return null;
  const weight = index.constant(w);
  if (!weight || weight.dataType !== FLOAT || weight.dims.length !== 2) return null;
  const transB = gemm && numberAttribute(node, 'transB', 0) !== 0;
  const [k, m] = transB ? [weight.dims[1], weight.dims[0]] : weight.dims;
  const kxm = transB ? transpose(weight.values, m, k) : weight.values;
  const { q, scales } = quantizeColumns(kxm, k, m);

  const base = `${node.name || out}/${tag}`;
  const name = (s: string) => `${base}/${s}`;
  added.push(
    shiftedUint8Tensor(name('w_uint8'), [k, m], q),
    { name: name('w_zero_point'), dims: [], dataType: onnx.TensorProto.DataType.UINT8, rawData: Uint8Array.of(WEIGHT_ZERO_POINT) },
    makeFloatTensor(name('w_scale'), [m], scales),
  );
  const product = c && gemm ? name('product') : out;
  return [
    makeNode('DynamicQuantizeLinear', [x], [name('x_q'), name('x_scale'), name('x_zero_point')]),
    makeNode('MatMulInteger', [name('x_q'), name('w_uint8'), name('x_zero_point'), name('w_zero_point')], [name('acc')]),
    makeNode('Cast', [name('acc')], [name('acc_float')], { attributes: { to: { int: FLOAT } } }),
    makeNode('Mul', [name('x_scale'), name('w_scale')], [name('scale')]),
    makeNode('Mul', [name('acc_float'), name('scale')], [product]),
    ...(c && gemm ? [makeNode('Add', [product, c], [out])] : []),
  ];
}
