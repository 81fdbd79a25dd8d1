// Raw tensor bytes: little-endian, row-major, as both the REST binary tensor extension
// (http/binary-tensors.ts) and gRPC's raw_input_contents / raw_output_contents carry them.
import { InvalidInputError } from './errors.ts';
import {
  elementCount,
  type ElementArray,
  FLOAT32_MAX,
  INT32_MAX,
  INT32_MIN,
  type InputDatatype,
  isFiniteWithin,
  isFloatDatatype,
  type ModelElementType,
} from './tensor-data.ts';

const BYTES_PER: Record<InputDatatype, number> = { FP32: 4, FP64: 8, INT32: 4, INT64: 8 };

export interface BinaryDecodeOptions {
  datatype: InputDatatype;
  shape: readonly number[];
  target: ModelElementType;
  /** Names the elements in error messages: "inputs[0].data" gives "inputs[0].data[5]". */
  where: string;
  /** The field that declared the byte count, named when it does not match the shape (default: where). */
  sizeField?: string;
}

/**
 * Decodes raw tensor bytes into the model's element type, with the same checks as JSON data:
 * the size must match the shape, floats must be finite (JSON cannot carry NaN/Infinity either),
 * integers must fit. FP32 into a float32 model is a view when aligned (no copy, no per-element work
 * beyond the finiteness scan).
 */
export function decodeBinaryTensor(bytes: Buffer, opts: BinaryDecodeOptions): ElementArray {
  const count = elementCount(opts.shape);
  const need = count * BYTES_PER[opts.datatype];
  if (bytes.length !== need) {
    throw new InvalidInputError(
      `${opts.sizeField ?? opts.where}: ${bytes.length} bytes, but shape [${opts.shape.join(', ')}] of ${opts.datatype} needs ${need}`,
    );
  }
  const source = view(bytes, opts.datatype, count);
  if (isFloatDatatype(opts.datatype)) {
    const bad = firstBadFloat(source as Float32Array | Float64Array, opts.target);
    if (bad >= 0) {
      const v = (source as Float32Array)[bad];
      throw new InvalidInputError(
        Number.isFinite(v)
          ? `${opts.where}[${bad}]: ${v} is outside the float32 range of this model`
          : `${opts.where}[${bad}]: expected a finite number, got ${v}`,
      );
    }
  }
  if (sameType(opts.datatype, opts.target)) return source;
  return convert(source, opts);
}

function sameType(datatype: InputDatatype, target: ModelElementType): boolean {
  return (
    (datatype === 'FP32' && target === 'float32') ||
    (datatype === 'FP64' && target === 'float64') ||
    (datatype === 'INT32' && target === 'int32') ||
    (datatype === 'INT64' && target === 'int64')
  );
}

/** A typed view of little-endian bytes; copies when the bytes are not aligned for the type. */
function view(bytes: Buffer, datatype: InputDatatype, count: number): ElementArray {
  const width = BYTES_PER[datatype];
  const aligned = bytes.byteOffset % width === 0 ? bytes : Buffer.from(bytes);
  const { buffer, byteOffset } = aligned;
  switch (datatype) {
    case 'FP32':
      return new Float32Array(buffer, byteOffset, count);
    case 'FP64':
      return new Float64Array(buffer, byteOffset, count);
    case 'INT32':
      return new Int32Array(buffer, byteOffset, count);
    case 'INT64':
      return new BigInt64Array(buffer, byteOffset, count);
  }
}

function firstBadFloat(data: Float32Array | Float64Array, target: ModelElementType): number {
  const limit = target === 'float32' && data instanceof Float64Array ? FLOAT32_MAX : Infinity;
  for (let i = 0; i < data.length; i++) {
    if (!isFiniteWithin(data[i], limit)) return i;
  }
  return -1;
}

function convert(source: ElementArray, opts: BinaryDecodeOptions): ElementArray {
  const n = source.length;
  const at = (i: number) => `${opts.where}[${i}]`;
  const toNumber = (i: number): number => {
    const v = source[i];
    if (typeof v === 'bigint') {
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER))
        throw new InvalidInputError(`${at(i)}: ${v} cannot be represented exactly (|x| > 2^53 - 1)`);
      return Number(v);
    }
    return v;
  };
  switch (opts.target) {
    case 'float32':
      return Float32Array.from({ length: n }, (_, i) => toNumber(i));
    case 'float64':
      return Float64Array.from({ length: n }, (_, i) => toNumber(i));
    case 'int32':
      return Int32Array.from({ length: n }, (_, i) => {
        const v = toNumber(i);
        if (!Number.isInteger(v)) throw new InvalidInputError(`${at(i)}: expected an integer, got ${v}`);
        if (v < INT32_MIN || v > INT32_MAX) throw new InvalidInputError(`${at(i)}: ${v} is outside the INT32 range`);
        return v;
      });
    case 'int64':
      return BigInt64Array.from({ length: n }, (_, i) => {
        const v = toNumber(i);
        if (!Number.isInteger(v)) throw new InvalidInputError(`${at(i)}: expected an integer, got ${v}`);
        return BigInt(v);
      });
  }
}

/** Little-endian bytes of an output tensor's data, without copying. */
export function tensorBytes(data: ArrayBufferView): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}
