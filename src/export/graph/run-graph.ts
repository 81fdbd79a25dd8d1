// Runs an ONNX graph in onnxruntime (CPU) on named inputs, optionally exposing inner tensors as extra
// outputs: how an import learns the shapes and batch statistics that reach each BatchNormalization.
import * as ort from 'onnxruntime-node';
import { createRng, normal } from '../../train/rng.ts';
import { decodeModel, encodeModel, makeTensorValueInfo } from '../onnx/helpers.ts';
import { onnx, type OnnxTypes } from '../onnx/proto.ts';
import { ImportError } from './errors.ts';

const DataType = onnx.TensorProto.DataType;
const ORT_TYPES = new Map<number, ort.Tensor.Type>([
  [DataType.FLOAT, 'float32'],
  [DataType.DOUBLE, 'float64'],
  [DataType.INT32, 'int32'],
  [DataType.INT64, 'int64'],
]);

export interface InputSpec {
  name: string;
  /** onnx's TensorProto.DataType of the elements. */
  elemType: number;
  /** A number is fixed, a string a named dynamic dimension, null an unnamed one. */
  dims: Array<number | string | null>;
}

export interface TensorData {
  dims: number[];
  data: Float32Array | Float64Array | Int32Array | BigInt64Array;
}

export type Feeds = Record<string, TensorData>;

/** The inputs a caller feeds (graph inputs that are not initializers), as the graph declares them. */
export function inputSpecs(model: OnnxTypes.IModelProto): InputSpec[] {
  const initializers = new Set((model.graph?.initializer ?? []).map((t) => t.name));
  return (model.graph?.input ?? [])
    .filter((i) => !initializers.has(i.name))
    .map((i) => ({
      name: i.name ?? '',
      elemType: i.type?.tensorType?.elemType ?? 0,
      dims: (i.type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam ? d.dimParam : d.dimValue != null ? Number(d.dimValue) : null)),
    }));
}

/** Seeded N(0, 1) inputs of the declared shapes, `rows` deep on the first axis; refuses what cannot be drawn. */
export function randomFeeds(specs: readonly InputSpec[], rows: number, seed: number): Feeds {
  const rng = createRng(seed);
  const feeds: Feeds = {};
  for (const spec of specs) {
    if (spec.elemType !== DataType.FLOAT && spec.elemType !== DataType.DOUBLE) {
      throw new ImportError(`input ${spec.name} is not a float tensor, so random rows cannot stand in for data: give --sample`);
    }
    const dims = spec.dims.map((d, axis) => {
      if (axis === 0) return typeof d === 'number' && d > 0 ? d : rows;
      if (typeof d !== 'number' || d <= 0) {
        throw new ImportError(`input ${spec.name} has a dynamic dimension on axis ${axis} (${d ?? '?'}): give --sample with real inputs`);
      }
      return d;
    });
    if (dims.length === 0) throw new ImportError(`input ${spec.name} is a scalar; bnserve serves models with a batch dimension`);
    const count = dims.reduce((a, b) => a * b, 1);
    const data = spec.elemType === DataType.DOUBLE ? new Float64Array(count) : new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = normal(rng);
    feeds[spec.name] = { dims, data };
  }
  return feeds;
}

/** The model's bytes with these inner tensors added as graph outputs (typed like `elemType`). */
export function exposeTensors(bytes: Uint8Array, tensors: ReadonlyArray<{ name: string; elemType: number }>): Uint8Array {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  graph.output ??= [];
  const existing = new Set(graph.output.map((o) => o.name));
  for (const t of tensors)
    if (!existing.has(t.name)) graph.output.push(onnx.ValueInfoProto.fromObject(makeTensorValueInfo(t.name, t.elemType, [])));
  // A shape-less output: onnxruntime takes the shape the graph computes.
  for (const o of graph.output) if (!existing.has(o.name) && o.type?.tensorType) o.type.tensorType.shape = null;
  return encodeModel(model);
}

/** Runs the graph once on the CPU; every output by name. */
export async function runGraph(bytes: Uint8Array, feeds: Feeds): Promise<Record<string, TensorData>> {
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  } catch (error) {
    throw new ImportError(`onnxruntime cannot load the model: ${(error as Error).message}`);
  }
  try {
    const inputs: Record<string, ort.Tensor> = {};
    for (const [name, t] of Object.entries(feeds)) inputs[name] = new ort.Tensor(t.data, t.dims);
    let result: ort.InferenceSession.OnnxValueMapType;
    try {
      result = await session.run(inputs);
    } catch (error) {
      throw new ImportError(`onnxruntime cannot run the model on these inputs: ${(error as Error).message}`);
    }
    const out: Record<string, TensorData> = {};
    for (const [name, value] of Object.entries(result)) {
      const t = value as ort.Tensor;
      out[name] = { dims: [...t.dims], data: t.data as TensorData['data'] };
    }
    return out;
  } finally {
    await session.release();
  }
}

export const ortTypeOf = (elemType: number) => ORT_TYPES.get(elemType);
