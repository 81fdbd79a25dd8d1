// Open Inference Protocol binary tensor data extension (Triton's binary_tensor_data): a JSON
// header of Inference-Header-Content-Length bytes, then the raw little-endian, row-major bytes of
// every input whose parameters carry binary_data_size, in the order of the inputs array.
// Pure functions: no HTTP here.
import { InvalidInputError } from './errors.ts';
import {
  describeValue,
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

export const HEADER_LENGTH = 'inference-header-content-length';
export const BINARY_EXTENSION = 'binary_tensor_data';

const BYTES_PER: Record<InputDatatype, number> = { FP32: 4, FP64: 8, INT32: 4, INT64: 8 };

/**
 * Splits a request body into its JSON header and binary part. headerLength is the request's
 * Inference-Header-Content-Length (a string, as HTTP gives it).
 */
export function splitBinaryBody(body: Buffer, headerLength: string): { header: string; headerBytes: number; binary: Buffer } {
  if (!/^\d{1,12}$/.test(headerLength.trim())) {
    throw new InvalidInputError(`Inference-Header-Content-Length must be a byte count, got ${JSON.stringify(headerLength.slice(0, 40))}`);
  }
  const n = Number(headerLength);
  if (n === 0 || n > body.length) {
    throw new InvalidInputError(
      `Inference-Header-Content-Length is ${n} but the body has ${body.length} bytes; it must be the length of the JSON header that starts the body`,
    );
  }
  return { header: body.toString('utf8', 0, n), headerBytes: n, binary: body.subarray(n) };
}

/** Reads binary inputs one after another from the body's binary part, checking every declared size. */
export class BinaryReader {
  private offset = 0;
  constructor(private readonly binary: Buffer) {}

  /** The next `size` bytes, or a 400 when the body is shorter than the inputs declare. */
  take(size: number, where: string): Buffer {
    if (this.offset + size > this.binary.length) {
      throw new InvalidInputError(
        `${where}.parameters.binary_data_size: ${size} bytes declared, but only ${this.binary.length - this.offset} bytes of binary data are left in the body`,
      );
    }
    const bytes = this.binary.subarray(this.offset, this.offset + size);
    this.offset += size;
    return bytes;
  }

  /** Every byte must belong to an input: trailing bytes mean the sizes lie. */
  finish(): void {
    const left = this.binary.length - this.offset;
    if (left !== 0) {
      throw new InvalidInputError(
        `the body has ${left} bytes of binary data after the last input's binary_data_size; the declared sizes do not add up to the body`,
      );
    }
  }
}

/** Parses parameters.binary_data_size: a non-negative integer, else 400. */
export function binaryDataSize(parameters: Record<string, unknown> | undefined, where: string): number | undefined {
  const size = parameters?.binary_data_size;
  if (size === undefined) return undefined;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidInputError(`${where}.parameters.binary_data_size: expected a byte count, got ${describeValue(size)}`);
  }
  return size;
}

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

/** A binary response: JSON header, then each binary output's bytes in header order. */
export function encodeBinaryResponse(header: object, parts: readonly Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}
