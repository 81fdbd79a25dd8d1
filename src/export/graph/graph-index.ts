// Who produces and who consumes each tensor of an ONNX graph, and which tensors are constants.
import { onnx, type OnnxTypes } from '../onnx/proto.ts';
import { type LongLike, readTensor, type TensorValue, toNumber } from './tensor-values.ts';

type Node = OnnxTypes.INodeProto;

export class GraphIndex {
  readonly producers = new Map<string, Node>();
  readonly consumers = new Map<string, Node[]>();
  readonly initializers = new Map<string, OnnxTypes.ITensorProto>();
  readonly graphOutputs: Set<string>;
  /** Graph inputs that are not initializers: what a caller feeds. */
  readonly feeds: OnnxTypes.IValueInfoProto[];

  constructor(readonly graph: OnnxTypes.IGraphProto) {
    for (const t of graph.initializer ?? []) this.initializers.set(t.name ?? '', t);
    for (const node of graph.node ?? []) {
      for (const out of node.output ?? []) if (out) this.producers.set(out, node);
      for (const input of node.input ?? []) {
        if (!input) continue;
        const list = this.consumers.get(input) ?? [];
        list.push(node);
        this.consumers.set(input, list);
      }
    }
    this.graphOutputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
    this.feeds = (graph.input ?? []).filter((i) => !this.initializers.has(i.name ?? ''));
  }

  /** The tensor's only consumer when it has exactly one and is not a graph output, else null. */
  soleConsumer(tensor: string): Node | null {
    const list = this.consumers.get(tensor) ?? [];
    return list.length === 1 && !this.graphOutputs.has(tensor) ? list[0] : null;
  }

  /**
   * The value of a tensor known before any input arrives: an initializer (also one that older exporters
   * list among the graph inputs as an overridable default), a Constant node, or an Identity of either.
   */
  constant(name: string | null | undefined): TensorValue | null {
    if (!name) return null;
    const initializer = this.initializers.get(name);
    if (initializer) return readTensor(initializer);
    const producer = this.producers.get(name);
    if (producer?.opType === 'Identity' && !producer.domain) return this.constant(producer.input?.[0]);
    if (producer?.opType === 'Constant' && !producer.domain) {
      const value = (producer.attribute ?? []).find((a) => a.name === 'value')?.t;
      return value ? readTensor(value) : null;
    }
    return null;
  }
}

/** An attribute's number (int or float), or the fallback when the node does not set it. */
export function numberAttribute(node: Node, name: string, fallback: number): number {
  const a = (node.attribute ?? []).find((x) => x.name === name);
  if (!a) return fallback;
  if (a.type === onnx.AttributeProto.AttributeType.INT) return toNumber((a.i ?? 0) as LongLike);
  if (a.type === onnx.AttributeProto.AttributeType.FLOAT) return a.f ?? 0;
  return fallback;
}
