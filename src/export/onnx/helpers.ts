// Small constructors for ONNX protos, in the spirit of onnx's helper.py.
import { onnx, type OnnxTypes } from './proto.ts';

type AttributeValue = { int: number } | { float: number } | { ints: number[] } | { floats: number[] } | { string: string };

export type Attributes = Record<string, AttributeValue>;

const AttributeType = onnx.AttributeProto.AttributeType;
export const FLOAT = onnx.TensorProto.DataType.FLOAT;
export const INT64 = onnx.TensorProto.DataType.INT64;

export function makeAttribute(name: string, value: AttributeValue): OnnxTypes.IAttributeProto {
  if ('int' in value) return { name, type: AttributeType.INT, i: value.int };
  if ('float' in value) return { name, type: AttributeType.FLOAT, f: value.float };
  if ('ints' in value) return { name, type: AttributeType.INTS, ints: value.ints };
  if ('floats' in value) return { name, type: AttributeType.FLOATS, floats: value.floats };
  return { name, type: AttributeType.STRING, s: new TextEncoder().encode(value.string) };
}

export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  options: { name?: string; attributes?: Attributes } = {},
): OnnxTypes.INodeProto {
  return {
    opType,
    input: inputs,
    output: outputs,
    name: options.name ?? outputs[0],
    attribute: Object.entries(options.attributes ?? {}).map(([key, value]) => makeAttribute(key, value)),
  };
}

/** A float32 initializer stored as little-endian raw bytes. */
export function makeFloatTensor(name: string, dims: number[], values: ArrayLike<number>): OnnxTypes.ITensorProto {
  const count = dims.reduce((a, b) => a * b, 1);
  if (values.length !== count) throw new RangeError(`tensor ${name}: ${values.length} values for shape [${dims.join(', ')}]`);
  const bytes = new Uint8Array(count * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: FLOAT, rawData: bytes };
}

/** Dimensions: a number is fixed, a string is a symbolic (dynamic) dimension such as 'batch'. */
export function makeTensorValueInfo(name: string, elemType: number, shape: Array<number | string>): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export function makeGraph(
  name: string,
  nodes: OnnxTypes.INodeProto[],
  inputs: OnnxTypes.IValueInfoProto[],
  outputs: OnnxTypes.IValueInfoProto[],
  initializers: OnnxTypes.ITensorProto[],
): OnnxTypes.IGraphProto {
  return { name, node: nodes, input: inputs, output: outputs, initializer: initializers };
}

export interface ModelOptions {
  opset: number;
  irVersion: number;
  producerName: string;
  producerVersion: string;
  metadata: Record<string, string>;
}

export function makeModel(graph: OnnxTypes.IGraphProto, options: ModelOptions): OnnxTypes.IModelProto {
  return {
    irVersion: options.irVersion,
    opsetImport: [{ domain: '', version: options.opset }],
    producerName: options.producerName,
    producerVersion: options.producerVersion,
    graph,
    metadataProps: Object.entries(options.metadata).map(([key, value]) => ({ key, value })),
  };
}

export function encodeModel(model: OnnxTypes.IModelProto): Uint8Array {
  const message = onnx.ModelProto.fromObject(model);
  const error = onnx.ModelProto.verify(message);
  if (error) throw new Error(`invalid ONNX model: ${error}`);
  return onnx.ModelProto.encode(message).finish();
}

export function decodeModel(bytes: Uint8Array): OnnxTypes.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

/** metadata_props as a plain record. */
export function readMetadata(model: OnnxTypes.IModelProto): Record<string, string> {
  return Object.fromEntries((model.metadataProps ?? []).map((p) => [p.key ?? '', p.value ?? '']));
}
