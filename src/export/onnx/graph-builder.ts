// Accumulates nodes and initializers with unique names.
import { makeFloatTensor, makeNode, type Attributes } from './helpers.ts';
import type { OnnxTypes } from './proto.ts';

export class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly used = new Set<string>();

  constructor(reserved: string[]) {
    for (const name of reserved) this.used.add(name);
  }

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }

  constant(base: string, dims: number[], values: ArrayLike<number>): string {
    const name = this.unique(base);
    this.initializers.push(makeFloatTensor(name, dims, values));
    return name;
  }

  /** Adds a node with one output and returns that output's name. */
  node(opType: string, inputs: string[], outputBase: string, attributes?: Attributes): string {
    const output = this.unique(outputBase);
    this.nodes.push(makeNode(opType, inputs, [output], { name: output, attributes }));
    return output;
  }

  /** Gives the value produced by the last node a fixed name (the graph output). */
  renameFinalOutput(value: string, finalName: string): void {
    const producer = this.nodes[this.nodes.length - 1];
    if (!producer || producer.output?.[0] !== value) {
      this.node('Identity', [value], finalName);
      return;
    }
    producer.output = [finalName];
    this.used.add(finalName);
  }
}
