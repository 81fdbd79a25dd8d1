// Graph-level BN folding on an ONNX graph: every inference-mode BatchNormalization goes into the
// weights and bias of the Conv, ConvTranspose, Gemm or MatMul(+Add) that feeds it (through
// Identity/Reshape/Flatten when the channel axis provably lines up), else becomes one Mul + Add.
// The arithmetic is src/export/fold.ts's, in float64; this module only rewires the graph.
import { makeAttribute, makeNode } from '../onnx/helpers.ts';
import { type BnParams, bnAsScaleShift, type ScaleShift, scaleWeights, shiftBias } from '../fold.ts';
import type { OnnxTypes } from '../onnx/proto.ts';
import { ImportError } from './errors.ts';
import { GraphIndex, numberAttribute } from './graph-index.ts';
import { elementCount, type TensorValue, writeTensor } from './tensor-values.ts';

type Node = OnnxTypes.INodeProto;
type Graph = OnnxTypes.IGraphProto;
export type Shapes = ReadonlyMap<string, readonly number[]>;

export interface BnFold {
  /** The BatchNormalization node's name (its output's name when it has none). */
  node: string;
  /** The node whose weights absorbed it (Conv, ConvTranspose, Gemm, MatMul, Add), or null: it became Mul + Add. */
  into: string | null;
  op: 'Conv' | 'ConvTranspose' | 'Gemm' | 'MatMul' | 'Mul+Add';
}

const PASS_THROUGH = new Set(['Identity', 'Reshape', 'Flatten']);
const isOnnxOp = (node: Node | null | undefined, ...types: string[]): boolean =>
  !!node && !node.domain && types.includes(node.opType ?? '');

export const isBatchNorm = (node: Node) => isOnnxOp(node, 'BatchNormalization');
export const nodeName = (node: Node) => node.name || node.output?.[0] || '(unnamed)';

/** BN nodes that normalise with the batch's statistics (exported in training mode). */
export function trainingModeBatchNorms(graph: Graph): string[] {
  return (graph.node ?? [])
    .filter((n) => isBatchNorm(n) && (numberAttribute(n, 'training_mode', 0) !== 0 || (n.output ?? []).filter(Boolean).length > 1))
    .map(nodeName);
}

/** The frozen statistics of a BN node, read from constants; refuses a BN whose parameters are computed. */
export function batchNormParams(index: GraphIndex, node: Node): BnParams & { dataType: number } {
  const [, scale, bias, mean, variance] = (node.input ?? []).map((name) => index.constant(name));
  const params = [scale, bias, mean, variance];
  if (params.some((p) => !p)) {
    throw new ImportError(
      `BatchNormalization ${nodeName(node)}: its scale, bias, mean and variance must be constants (initializers); ` +
        'export the model with its parameters (export_params=True) in eval mode',
    );
  }
  const [g, b, m, v] = params as TensorValue[];
  return {
    gamma: g.values,
    beta: b.values,
    movingMean: m.values,
    movingVariance: v.values,
    epsilon: numberAttribute(node, 'epsilon', 1e-5),
    dataType: g.dataType,
  };
}

/** Tensors whose shapes the fold needs: each BN's input and the tensors back through Identity/Reshape/Flatten. */
export function tensorsToMeasure(graph: Graph): string[] {
  const index = new GraphIndex(graph);
  const names: string[] = [];
  for (const bn of (graph.node ?? []).filter(isBatchNorm)) {
    let tensor = bn.input?.[0] ?? '';
    names.push(tensor);
    for (let p = index.producers.get(tensor); p && isOnnxOp(p, ...PASS_THROUGH); p = index.producers.get(tensor)) {
      tensor = p.input?.[0] ?? '';
      names.push(tensor);
    }
  }
  return [...new Set(names)];
}

/** Folds every BatchNormalization of `graph` in place (inference mode: check trainingModeBatchNorms first). */
export function foldGraphBatchNorms(graph: Graph, shapes: Shapes): BnFold[] {
  const names = new FreshNames(graph);
  const folds: BnFold[] = [];
  for (let bn = nextBatchNorm(graph); bn; bn = nextBatchNorm(graph)) {
    const index = new GraphIndex(graph);
    const params = batchNormParams(index, bn);
    const ss = bnAsScaleShift(params);
    const into = foldIntoProducer(graph, index, bn, ss, params.dataType, shapes, names);
    if (into) {
      const input = bn.input?.[0] ?? '';
      const writer = graph.node!.find((n) => n.output?.includes(input));
      if (writer) renameOutput(writer, input, bn.output?.[0] ?? '');
      removeNode(graph, bn);
      folds.push({ node: nodeName(bn), into: nodeName(into.layer), op: into.op });
    } else {
      replaceWithAffine(graph, bn, ss, params.dataType, shapes, names);
      folds.push({ node: nodeName(bn), into: null, op: 'Mul+Add' });
    }
  }
  removeUnused(graph);
  return folds;
}

const nextBatchNorm = (graph: Graph) => (graph.node ?? []).find(isBatchNorm) ?? null;

interface Absorbed {
  layer: Node;
  op: BnFold['op'];
}

function foldIntoProducer(
  graph: Graph,
  index: GraphIndex,
  bn: Node,
  ss: ScaleShift,
  dataType: number,
  shapes: Shapes,
  names: FreshNames,
): Absorbed | null {
  const bnInput = bn.input?.[0] ?? '';
  if (index.soleConsumer(bnInput) !== bn) return null;
  let tensor = bnInput;
  let producer = index.producers.get(tensor);
  const chain: Node[] = [];
  while (producer && isOnnxOp(producer, ...PASS_THROUGH)) {
    const input = producer.input?.[0] ?? '';
    if (index.soleConsumer(input) !== producer) return null;
    chain.push(producer);
    tensor = input;
    producer = index.producers.get(tensor);
  }
  if (!producer) return null;
  const channels = ss.scale.length;
  const reshaped = chain.some((n) => n.opType !== 'Identity');
  const lineUp = (channelAxis: (rank: number) => number) =>
    channelsLineUp(shapes.get(tensor), channelAxis, shapes.get(bnInput), channels, reshaped);

  if (isOnnxOp(producer, 'Conv', 'ConvTranspose') && lineUp(() => 1)) {
    const ok =
      producer.opType === 'Conv' ? foldConv(graph, index, producer, ss, names) : foldConvTranspose(graph, index, producer, ss, names);
    return ok ? { layer: producer, op: producer.opType as 'Conv' | 'ConvTranspose' } : null;
  }
  if (isOnnxOp(producer, 'Gemm') && lineUp(() => 1)) {
    return foldGemm(graph, index, producer, ss, names) ? { layer: producer, op: 'Gemm' } : null;
  }
  if (isOnnxOp(producer, 'MatMul', 'Add') && lineUp((rank) => rank - 1)) {
    const done =
      producer.opType === 'MatMul'
        ? foldMatMul(graph, index, producer, ss, dataType, names)
        : foldMatMulAdd(graph, index, producer, ss, names);
    return done ? { layer: producer, op: 'MatMul' } : null;
  }
  return null;
}

/**
 * The layer's channel axis and the BN's axis 1 are the same channels: directly (Identity only) when
 * the layer's channel axis is 1, or through a reshape when both shapes keep the batch first, the
 * channels on those axes and 1 everywhere else (a 1×1 spatial map flattened, a row made [N, C, 1]).
 */
function channelsLineUp(
  layerShape: readonly number[] | undefined,
  channelAxis: (rank: number) => number,
  bnShape: readonly number[] | undefined,
  channels: number,
  reshaped: boolean,
): boolean {
  if (!layerShape || !bnShape || bnShape[1] !== channels) return false;
  const axis = channelAxis(layerShape.length);
  if (layerShape[axis] !== channels) return false;
  if (!reshaped) return axis === 1;
  const othersAreOne = (shape: readonly number[], keep: number) => shape.every((d, i) => i === 0 || i === keep || d === 1);
  return layerShape[0] === bnShape[0] && othersAreOne(layerShape, axis) && othersAreOne(bnShape, 1);
}

/** Conv: W [M, C/group, k…] scaled per output channel (axis 0); bias b·s + t. */
function foldConv(graph: Graph, index: GraphIndex, conv: Node, ss: ScaleShift, names: FreshNames): boolean {
  const w = index.constant(conv.input?.[1]);
  if (!w || w.dims[0] !== ss.scale.length) return false;
  const perChannel = elementCount(w.dims) / w.dims[0];
  setWeights(
    graph,
    conv,
    1,
    w,
    scaleWeights(w.values, (i) => Math.floor(i / perChannel), ss),
    names,
  );
  setBias(graph, index, conv, 2, ss, w.dataType, names);
  return true;
}

/** ConvTranspose: W [C_in, M/group, k…]; output channel = group index · M/group + the axis-1 index. */
function foldConvTranspose(graph: Graph, index: GraphIndex, node: Node, ss: ScaleShift, names: FreshNames): boolean {
  const w = index.constant(node.input?.[1]);
  const group = numberAttribute(node, 'group', 1);
  if (!w || w.dims.length < 3) return false;
  const [inChannels, perGroup] = w.dims;
  if (perGroup * group !== ss.scale.length || inChannels % group !== 0) return false;
  const spatial = elementCount(w.dims.slice(2));
  const inPerGroup = inChannels / group;
  const channelOf = (i: number) =>
    Math.floor(Math.floor(i / (perGroup * spatial)) / inPerGroup) * perGroup + (Math.floor(i / spatial) % perGroup);
  setWeights(graph, node, 1, w, scaleWeights(w.values, channelOf, ss), names);
  setBias(graph, index, node, 2, ss, w.dataType, names);
  return true;
}

/** Gemm: Y = α·A·B′ + β·C with B′ = B or Bᵀ; scale B′'s columns, C′ = s·(β·C) + t, β = 1. */
function foldGemm(graph: Graph, index: GraphIndex, gemm: Node, ss: ScaleShift, names: FreshNames): boolean {
  const b = index.constant(gemm.input?.[1]);
  if (b?.dims.length !== 2) return false;
  const transB = numberAttribute(gemm, 'transB', 0) !== 0;
  const n = ss.scale.length;
  if ((transB ? b.dims[0] : b.dims[1]) !== n) return false;
  const cols = b.dims[1];
  const beta = numberAttribute(gemm, 'beta', 1);
  const cName = gemm.input?.[2];
  const c = cName ? index.constant(cName) : null;
  if (cName && !c) {
    // A computed C: s·(β·C) + t on its path, β = 1.
    setWeights(graph, gemm, 1, b, scaleWeights(b.values, transB ? (i) => Math.floor(i / cols) : (i) => i % cols, ss), names);
    const scaled = { scale: ss.scale.map((s) => s * beta), shift: ss.shift };
    gemm.input![2] = affineOnPath(graph, gemm, cName, scaled, b.dataType, names);
    setAttribute(gemm, 'beta', { float: 1 });
    return true;
  }
  const bias = c ? broadcastGemmBias(c, n, beta) : null;
  if (c && !bias) return false;
  setWeights(graph, gemm, 1, b, scaleWeights(b.values, transB ? (i) => Math.floor(i / cols) : (i) => i % cols, ss), names);
  const rows = bias ? bias.rows : 1;
  const folded = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const row = shiftBias(bias ? bias.values.subarray(r * n, (r + 1) * n) : null, ss);
    folded.set(row, r * n);
  }
  const cDims = bias && bias.dims.length === 2 ? [rows, n] : [n];
  setInput(graph, gemm, 2, writeTensor(names.fresh(`${nodeName(gemm)}_bn_folded_C`), b.dataType, cDims, folded));
  setAttribute(gemm, 'beta', { float: 1 });
  return true;
}

/** β·C broadcast to [rows, N] (C: a scalar, [N], [1, N], [M, 1] or [M, N]); null for other shapes. */
function broadcastGemmBias(c: TensorValue, n: number, beta: number): { values: Float64Array; rows: number; dims: number[] } | null {
  if (c.dims.length > 2) return null;
  const rows = c.dims.length === 2 ? c.dims[0] : 1;
  const cols = c.dims.length === 0 ? 1 : c.dims[c.dims.length - 1];
  if (cols !== 1 && cols !== n) return null;
  const values = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) values[r * n + j] = beta * c.values[r * cols + (cols === 1 ? 0 : j)];
  return { values, rows, dims: c.dims };
}

/** MatMul(A, W) with a constant 2-D W: scale W's columns, then add t in a new Add after it. */
function foldMatMul(graph: Graph, index: GraphIndex, matmul: Node, ss: ScaleShift, dataType: number, names: FreshNames): boolean {
  const w = index.constant(matmul.input?.[1]);
  if (w?.dims.length !== 2 || w.dims[1] !== ss.scale.length) return false;
  const cols = w.dims[1];
  setWeights(
    graph,
    matmul,
    1,
    w,
    scaleWeights(w.values, (i) => i % cols, ss),
    names,
  );
  const out = matmul.output?.[0] ?? '';
  const product = names.fresh(`${out}_bn_scaled`);
  matmul.output![0] = product;
  const shift = writeTensor(names.fresh(`${nodeName(matmul)}_bn_shift`), dataType, [cols], ss.shift);
  graph.initializer!.push(shift);
  insertAfter(graph, matmul, makeNode('Add', [product, shift.name!], [out], { name: names.fresh(`${nodeName(matmul)}_bn_add`) }));
  return true;
}

/** Add(MatMul(A, W), b) with constant W [K, N] and b [N] or [1, N]: W's columns scaled, b′ = b·s + t. */
function foldMatMulAdd(graph: Graph, index: GraphIndex, add: Node, ss: ScaleShift, names: FreshNames): boolean {
  for (const side of [0, 1]) {
    const matmul = index.producers.get(add.input?.[side] ?? '');
    const bias = index.constant(add.input?.[1 - side]);
    if (!matmul || !isOnnxOp(matmul, 'MatMul') || index.soleConsumer(add.input?.[side] ?? '') !== add || !bias) continue;
    const w = index.constant(matmul.input?.[1]);
    const n = ss.scale.length;
    if (w?.dims.length !== 2 || w.dims[1] !== n || elementCount(bias.dims) !== n || bias.dims.at(-1) !== n) continue;
    setWeights(
      graph,
      matmul,
      1,
      w,
      scaleWeights(w.values, (i) => i % n, ss),
      names,
    );
    setInput(
      graph,
      add,
      1 - side,
      writeTensor(names.fresh(`${nodeName(add)}_bn_folded_bias`), bias.dataType, bias.dims, shiftBias(bias.values, ss)),
    );
    return true;
  }
  return false;
}

/** The layer's bias input (absent, constant or computed) becomes b·s + t. */
function setBias(graph: Graph, index: GraphIndex, node: Node, slot: number, ss: ScaleShift, dataType: number, names: FreshNames): void {
  const name = node.input?.[slot];
  const bias = name ? index.constant(name) : null;
  if (name && !bias) {
    node.input![slot] = affineOnPath(graph, node, name, ss, dataType, names);
    return;
  }
  setInput(
    graph,
    node,
    slot,
    writeTensor(
      names.fresh(`${nodeName(node)}_bn_folded_bias`),
      bias?.dataType ?? dataType,
      [ss.scale.length],
      shiftBias(bias?.values ?? null, ss),
    ),
  );
}

/** Mul(x, s) → Add(·, t) inserted before `before`, for a computed bias; returns the new tensor's name. */
function affineOnPath(graph: Graph, before: Node, tensor: string, ss: ScaleShift, dataType: number, names: FreshNames): string {
  const base = nodeName(before);
  const scale = writeTensor(names.fresh(`${base}_bn_scale`), dataType, [ss.scale.length], ss.scale);
  const shift = writeTensor(names.fresh(`${base}_bn_shift`), dataType, [ss.shift.length], ss.shift);
  const scaled = names.fresh(`${tensor}_bn_scaled`);
  const out = names.fresh(`${tensor}_bn_folded`);
  graph.initializer!.push(scale, shift);
  const at = graph.node!.indexOf(before);
  graph.node!.splice(
    at,
    0,
    makeNode('Mul', [tensor, scale.name!], [scaled], { name: names.fresh(`${base}_bn_mul`) }),
    makeNode('Add', [scaled, shift.name!], [out], { name: names.fresh(`${base}_bn_add`) }),
  );
  return out;
}

/** A BN with no foldable producer: y = x·s + t with s, t shaped [C, 1, …] to broadcast over axis 1. */
function replaceWithAffine(graph: Graph, bn: Node, ss: ScaleShift, dataType: number, shapes: Shapes, names: FreshNames): void {
  const input = bn.input?.[0] ?? '';
  const rank = shapes.get(input)?.length;
  if (rank === undefined || rank < 2) {
    throw new ImportError(`BatchNormalization ${nodeName(bn)}: the rank of its input ${input} is unknown, so it cannot be rewritten`);
  }
  const dims = [ss.scale.length, ...Array<number>(rank - 2).fill(1)];
  const base = nodeName(bn);
  const scale = writeTensor(names.fresh(`${base}_scale`), dataType, dims, ss.scale);
  const shift = writeTensor(names.fresh(`${base}_shift`), dataType, dims, ss.shift);
  const scaled = names.fresh(`${base}_scaled`);
  graph.initializer!.push(scale, shift);
  const at = graph.node!.indexOf(bn);
  graph.node!.splice(
    at,
    1,
    makeNode('Mul', [input, scale.name!], [scaled], { name: names.fresh(`${base}_mul`) }),
    makeNode('Add', [scaled, shift.name!], [bn.output?.[0] ?? ''], { name: names.fresh(`${base}_add`) }),
  );
}

/** New weights always get a new initializer: another node may share the old one. */
function setWeights(graph: Graph, node: Node, slot: number, old: TensorValue, values: Float64Array, names: FreshNames): void {
  setInput(graph, node, slot, writeTensor(names.fresh(`${node.input?.[slot]}_bn_folded`), old.dataType, old.dims, values));
}

function setInput(graph: Graph, node: Node, slot: number, tensor: OnnxTypes.ITensorProto): void {
  graph.initializer!.push(tensor);
  const inputs = node.input!;
  while (inputs.length <= slot) inputs.push('');
  inputs[slot] = tensor.name!;
}

function setAttribute(node: Node, name: string, value: { float: number }): void {
  node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== name), makeAttribute(name, value)];
}

function renameOutput(node: Node, from: string, to: string): void {
  node.output = (node.output ?? []).map((o) => (o === from ? to : o));
}

function removeNode(graph: Graph, node: Node): void {
  graph.node!.splice(graph.node!.indexOf(node), 1);
}

function insertAfter(graph: Graph, anchor: Node, node: Node): void {
  graph.node!.splice(graph.node!.indexOf(anchor) + 1, 0, node);
}

/**
 * Drops what only the folded BNs used: initializers no node reads (and their graph-input entries),
 * Identity/Constant nodes whose outputs nobody reads, value_info of tensors no longer produced.
 */
function removeUnused(graph: Graph): void {
  for (let changed = true; changed; ) {
    const read = new Set([...(graph.node ?? []).flatMap((n) => n.input ?? []), ...(graph.output ?? []).map((o) => o.name ?? '')]);
    const before = graph.node!.length;
    graph.node = graph.node!.filter((n) => !(isOnnxOp(n, 'Identity', 'Constant') && (n.output ?? []).every((o) => !read.has(o))));
    changed = graph.node.length !== before;
    if (!changed) {
      const unused = new Set((graph.initializer ?? []).map((t) => t.name ?? '').filter((name) => !read.has(name)));
      graph.initializer = (graph.initializer ?? []).filter((t) => !unused.has(t.name ?? ''));
      graph.input = (graph.input ?? []).filter((i) => !unused.has(i.name ?? ''));
    }
  }
  const produced = new Set([...(graph.node ?? []).flatMap((n) => n.output ?? []), ...(graph.input ?? []).map((i) => i.name ?? '')]);
  graph.valueInfo = (graph.valueInfo ?? []).filter((v) => produced.has(v.name ?? ''));
}

/** Names not yet used by any tensor or node of the graph. */
class FreshNames {
  private readonly used = new Set<string>();

  constructor(graph: Graph) {
    for (const n of graph.node ?? []) for (const name of [n.name, ...(n.input ?? []), ...(n.output ?? [])]) if (name) this.used.add(name);
    for (const t of graph.initializer ?? []) if (t.name) this.used.add(t.name);
    for (const v of [...(graph.input ?? []), ...(graph.output ?? [])]) if (v.name) this.used.add(v.name);
  }

  fresh(base: string): string {
    let name = base;
    for (let k = 1; this.used.has(name); k++) name = `${base}_${k}`;
    this.used.add(name);
    return name;
  }
}
