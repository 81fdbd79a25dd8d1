// ONNX tensors as float64 numbers and back, for the graph-level BN fold. Only the element types a
// fold reads or writes: float, double (weights, statistics) and int64 (Reshape shapes).
import { onnx, type OnnxTypes } from '../onnx/proto.ts';
import { ImportError } from './errors.ts';

const DataType = onnx.TensorProto.DataType;
export const FLOAT = DataType.FLOAT;
export const DOUBLE = DataType.DOUBLE;
const INT64 = DataType.INT64;

export interface TensorValue {
  dataType: number;
  dims: number[];
  values: Float64Array;
}

export type LongLike = number | { toNumber(): number };
export const toNumber = (v: LongLike) => (typeof v === 'number' ? v : v.toNumber());

export const elementCount = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** Refuses a tensor whose values live in a separate file: an import reads one file. */
export function assertInline(t: OnnxTypes.ITensorProto): void {
  if (t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw new ImportError(
      `tensor ${t.name} is stored in an external data file; save the model with every tensor inside the .onnx ` +
        '(onnx.save_model(model, path, save_as_external_data=False)) and import that file',
    );
  }
}

/** The tensor's numbers, or null for an element type a fold does not handle. */
export function readTensor(t: OnnxTypes.ITensorProto): TensorValue | null {
  assertInline(t);
  const dims = (t.dims ?? []).map((d) => toNumber(d as LongLike));
  const dataType = t.dataType ?? 0;
  const count = elementCount(dims);
  const raw = t.rawData && t.rawData.length > 0 ? t.rawData : null;
  const view = raw ? new DataView(raw.buffer, raw.byteOffset, raw.byteLength) : null;
  const values = new Float64Array(count);
  if (dataType === FLOAT) {
    if (view) for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
    else values.set((t.floatData ?? []).slice(0, count));
  } else if (dataType === DOUBLE) {
    if (view) for (let i = 0; i < count; i++) values[i] = view.getFloat64(i * 8, true);
    else values.set((t.doubleData ?? []).slice(0, count));
  } else if (dataType === INT64) {
    if (view) for (let i = 0; i < count; i++) values[i] = Number(view.getBigInt64(i * 8, true));
    else {
      const longs = t.int64Data ?? [];
      for (let i = 0; i < Math.min(count, longs.length); i++) values[i] = toNumber(longs[i] as LongLike);
    }
  } else {
    return null;
  }
  const stored = view ? view.byteLength : dataType === FLOAT ? (t.floatData?.length ?? 0) * 4 : count * 8;
  const width = dataType === FLOAT ? 4 : 8;
  if (stored < count * width) throw new ImportError(`tensor ${t.name} holds fewer values than its shape [${dims.join(', ')}] needs`);
  return { dataType, dims, values };
}

/** A float or double tensor from float64 numbers, stored as little-endian raw bytes. */
export function writeTensor(name: string, dataType: number, dims: number[], values: ArrayLike<number>): OnnxTypes.ITensorProto {
  const count = elementCount(dims);
  if (values.length !== count) throw new RangeError(`tensor ${name}: ${values.length} values for shape [${dims.join(', ')}]`);
  const width = dataType === DOUBLE ? 8 : 4;
  const bytes = new Uint8Array(count * width);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < count; i++) {
    if (dataType === DOUBLE) view.setFloat64(i * 8, values[i], true);
    else view.setFloat32(i * 4, values[i], true);
  }
  return { name, dims, dataType: dataType === DOUBLE ? DOUBLE : FLOAT, rawData: bytes };
}
