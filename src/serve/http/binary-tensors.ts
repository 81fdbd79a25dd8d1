// Open Inference Protocol binary tensor data extension (Triton's binary_tensor_data): a JSON
// header of Inference-Header-Content-Length bytes, then the raw little-endian, row-major bytes of
// every input whose parameters carry binary_data_size, in the order of the inputs array.
// The bytes of each tensor are decoded and encoded by dataplane/tensor-bytes.ts (gRPC's raw
// contents use the same layout). Pure functions: no HTTP here.
import { InvalidInputError } from '../dataplane/errors.ts';
import { describeValue } from '../dataplane/tensor-data.ts';

export const HEADER_LENGTH = 'inference-header-content-length';
export const BINARY_EXTENSION = 'binary_tensor_data';

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

/** A binary response: JSON header, then each binary output's bytes in header order. */
export function encodeBinaryResponse(header: object, parts: readonly Buffer[]): { body: Buffer; headerLength: number } {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  return { body: Buffer.concat([json, ...parts]), headerLength: json.length };
}
