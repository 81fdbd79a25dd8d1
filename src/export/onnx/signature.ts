// A graph's real inputs (initializers some exporters list as inputs are weights) and its outputs, with
// their element types as Open Inference Protocol datatypes: the one table from ONNX's element types.
import type { TensorDatatype } from '../../registry/types.ts';
import { ExportError } from '../errors.ts';
import { decodeModel } from './helpers.ts';
import { onnx, type OnnxTypes } from './proto.ts';

const T = onnx.TensorProto.DataType;
const DATATYPE_OF_ONNX = new Map<number, TensorDatatype>([
  [T.FLOAT, 'FP32'],
  [T.DOUBLE, 'FP64'],
  [T.FLOAT16, 'FP16'],
  [T.BFLOAT16, 'BF16'],
  [T.INT8, 'INT8'],
  [T.INT16, 'INT16'],
  [T.INT32, 'INT32'],
  [T.INT64, 'INT64'],
  [T.UINT8, 'UINT8'],
  [T.UINT16, 'UINT16'],
  [T.UINT32, 'UINT32'],
  [T.UINT64, 'UINT64'],
  [T.BOOL, 'BOOL'],
  [T.STRING, 'BYTES'],
]);

/** The Open Inference Protocol datatype of an ONNX element type; throws for one that cannot be served. */
export function datatypeOf(elemType: number): TensorDatatype {
  const datatype = DATATYPE_OF_ONNX.get(elemType);
  if (!datatype) throw new ExportError(`element type ${T[elemType] ?? elemType} cannot be served`);
  return datatype;
}

/** One graph input or output as the ONNX model declares it; -1 marks a dynamic (symbolic or unknown) dimension. */
export interface OnnxTensorInfo {
  name: string;
  datatype: TensorDatatype;
  shape: number[];
}

export interface OnnxSignature {
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
}

/** For a tensor the graph declares without a shape: its shape from elsewhere (e.g. measured), else none. */
export type ShapeFallback = (name: string) => number[] | undefined;

function tensorInfo(value: OnnxTypes.IValueInfoProto, where: string, fallback?: ShapeFallback): OnnxTensorInfo {
  const name = value.name ?? '';
  const tensor = value.type?.tensorType;
  if (!name || !tensor) throw new ExportError(`ONNX ${where} ${JSON.stringify(name)} is not a named tensor`);
  const datatype = DATATYPE_OF_ONNX.get(tensor.elemType ?? 0);
  if (!datatype)
    throw new ExportError(`ONNX ${where} ${name}: element type ${T[tensor.elemType ?? 0] ?? tensor.elemType} cannot be served`);
  if (!tensor.shape) {
    const measured = fallback?.(name);
    if (!measured) throw new ExportError(`ONNX ${where} ${name} has no shape (its rank is needed)`);
    return { name, datatype, shape: measured };
  }
  // A dimension is fixed when it has a positive dim_value; a dim_param or nothing is dynamic.
  const shape = (tensor.shape.dim ?? []).map((d) => {
    const value = d.dimParam ? 0 : Number(String(d.dimValue ?? 0));
    return value > 0 ? value : -1;
  });
  return { name, datatype, shape };
}

export function graphSignature(graph: OnnxTypes.IGraphProto, fallback?: ShapeFallback): OnnxSignature {
  const weights = new Set((graph.initializer ?? []).map((t) => t.name));
  return {
    inputs: (graph.input ?? []).filter((v) => !weights.has(v.name ?? '')).map((v) => tensorInfo(v, 'input', fallback)),
    outputs: (graph.output ?? []).map((v) => tensorInfo(v, 'output', fallback)),
  };
}

/** The signature of a decoded model (refused without a graph). */
export function modelSignature(model: OnnxTypes.IModelProto): OnnxSignature {
  if (!model.graph) throw new ExportError('the ONNX model has no graph');
  return graphSignature(model.graph);
}

export function onnxSignature(model: Uint8Array): OnnxSignature {
  return modelSignature(decodeModel(model));
}
