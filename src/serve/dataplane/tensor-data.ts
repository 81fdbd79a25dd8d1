// Pure conversions between JSON tensor data and typed arrays. Every rejection names the element.
import { quoted } from '../../lib/quote.ts';
import { InvalidInputError } from './errors.ts';

/** Open Inference Protocol datatypes accepted for inputs. */
export const INPUT_DATATYPES = ['FP32', 'FP64', 'INT32', 'INT64'] as const;
export type InputDatatype = (typeof INPUT_DATATYPES)[number];

/** Element types of model inputs we can feed (onnxruntime's names). */
export type ModelElementType = 'float32' | 'float64' | 'int32' | 'int64';
export type ElementArray = Float32Array | Float64Array | Int32Array | BigInt64Array;

export const FLOAT32_MAX = 3.4028234663852886e38;
export const INT32_MIN = -2147483648;
export const INT32_MAX = 2147483647;

export const isFloatDatatype = (datatype: InputDatatype) => datatype === 'FP32' || datatype === 'FP64';

/** A finite number with |v| ≤ limit, in one comparison chain (v - v is 0 for finite v, NaN for NaN and ±Infinity). */
export const isFiniteWithin = (v: number, limit: number) => v - v === 0 && Math.abs(v) <= limit;

const ORT_TO_V2: Record<string, string> = {
  float32: 'FP32',
  float64: 'FP64',
  float16: 'FP16',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  bool: 'BOOL',
  string: 'BYTES',
};

/** onnxruntime element type → Open Inference Protocol datatype ("FP32", ...). */
export function v2Datatype(ortType: string): string {
  return ORT_TO_V2[ortType] ?? ortType.toUpperCase();
}

export function isModelElementType(t: string): t is ModelElementType {
  return t === 'float32' || t === 'float64' || t === 'int32' || t === 'int64';
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function allocate(type: ModelElementType, n: number): ElementArray {
  switch (type) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int64':
      return new BigInt64Array(n);
  }
}

/** A JSON value as error messages name it: its type, or the value itself when short. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value)}`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value === 'number' ? String(value) : typeof value;
}

/** Checks one JSON value against the request datatype and the model's element type. */
function checkedNumber(value: unknown, datatype: InputDatatype, target: ModelElementType, where: string): number {
  if (typeof value !== 'number') throw new InvalidInputError(`${where}: expected a number, got ${describeValue(value)}`);
  if (!Number.isFinite(value)) throw new InvalidInputError(`${where}: expected a finite number, got ${value}`);
  const integral = datatype === 'INT32' || datatype === 'INT64' || target === 'int32' || target === 'int64';
  if (integral && !Number.isInteger(value)) throw new InvalidInputError(`${where}: expected an integer, got ${value}`);
  if ((datatype === 'INT32' || target === 'int32') && (value < INT32_MIN || value > INT32_MAX)) {
    throw new InvalidInputError(`${where}: ${value} is outside the INT32 range`);
  }
  if ((datatype === 'INT64' || target === 'int64') && !Number.isSafeInteger(value)) {
    throw new InvalidInputError(`${where}: ${value} cannot be represented exactly (|x| > 2^53 - 1)`);
  }
  if (target === 'float32' && Math.abs(value) > FLOAT32_MAX) {
    throw new InvalidInputError(`${where}: ${value} is outside the float32 range of this model`);
  }
  return value;
}

function store(out: ElementArray, index: number, value: number): void {
  if (out instanceof BigInt64Array) out[index] = BigInt(value);
  else out[index] = value;
}

export interface DecodeOptions {
  datatype: InputDatatype;
  target: ModelElementType;
  /** Prefix for error messages, e.g. "inputs[0].data". */
  where: string;
  /** Guard against shapes that claim more elements than the body could carry. */
  maxElements: number;
}

/**
 * Decodes Open Inference Protocol tensor data, given flat (row-major) or nested to match `shape`,
 * into a typed array of the model's element type.
 */
export function decodeTensorData(data: readonly unknown[], shape: readonly number[], opts: DecodeOptions): ElementArray {
  const count = elementCount(shape);
  if (count > opts.maxElements) {
    throw new InvalidInputError(
      `${opts.where}: shape [${shape.join(', ')}] has ${count} elements, more than the limit of ${opts.maxElements}`,
    );
  }
  const out = allocate(opts.target, count);
  decodeInto(data, shape, opts, out, 0);
  return out;
}

function decodeInto(
  data: readonly unknown[],
  shape: readonly number[],
  opts: Omit<DecodeOptions, 'maxElements'>,
  out: ElementArray,
  start: number,
): void {
  const count = elementCount(shape);
  const nested = data.length > 0 && Array.isArray(data[0]) && shape.length > 1;
  if (!nested) {
    if (data.length !== count) {
      throw new InvalidInputError(`${opts.where}: has ${data.length} values but shape [${shape.join(', ')}] needs ${count}`);
    }
    if (isFloatDatatype(opts.datatype) && (out instanceof Float32Array || out instanceof Float64Array)) {
      copyFloats(data, out, start, opts);
      return;
    }
    for (let i = 0; i < count; i++) store(out, start + i, checkedNumber(data[i], opts.datatype, opts.target, `${opts.where}[${i}]`));
    return;
  }
  let offset = start;
  const fill = (node: readonly unknown[], depth: number, where: string): void => {
    const expected = shape[depth];
    if (node.length !== expected) {
      throw new InvalidInputError(
        `${where}: has length ${node.length} but shape [${shape.join(', ')}] needs ${expected} at dimension ${depth}`,
      );
    }
    const leaf = depth === shape.length - 1;
    for (let i = 0; i < node.length; i++) {
      const child = node[i];
      const childWhere = `${where}[${i}]`;
      if (leaf) {
        store(out, offset++, checkedNumber(child, opts.datatype, opts.target, childWhere));
      } else if (Array.isArray(child)) {
        fill(child, depth + 1, childWhere);
      } else {
        throw new InvalidInputError(`${childWhere}: expected an array (shape [${shape.join(', ')}]), got ${describeValue(child)}`);
      }
    }
  };
  fill(data, 0, opts.where);
}

/**
 * The hot path of JSON rows into a float model: one comparison chain per value, the same checks as
 * checkedNumber (a finite number within the target's range), which still words any error.
 */
function copyFloats(
  data: readonly unknown[],
  out: Float32Array | Float64Array,
  start: number,
  opts: Omit<DecodeOptions, 'maxElements'>,
): void {
  const limit = out instanceof Float32Array ? FLOAT32_MAX : Infinity;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v === 'number' && isFiniteWithin(v, limit)) out[start + i] = v;
    else out[start + i] = checkedNumber(v, opts.datatype, opts.target, `${opts.where}[${i}]`);
  }
}

export interface RowsOptions {
  target: ModelElementType;
  /** Shape of one row, without the batch dimension, e.g. [4] or [28, 28, 1]. */
  rowShape: readonly number[];
  /** Names for rows given as objects; only usable when rowShape is [featureNames.length]. */
  featureNames: readonly string[];
  /** The request field the rows came from, for error messages (default "instances"). */
  label?: string;
}

/**
 * Builds a [rows, ...rowShape] tensor from TF-Serving style instances: each row is an array
 * (flat or nested) or an object keyed by feature name.
 */
export function rowsToTensor(instances: readonly unknown[], opts: RowsOptions): ElementArray {
  const perRow = elementCount(opts.rowShape);
  const out = allocate(opts.target, perRow * instances.length);
  const objectRows = opts.rowShape.length === 1 && opts.featureNames.length === perRow;
  for (let r = 0; r < instances.length; r++) {
    const row = instances[r];
    const where = `${opts.label ?? 'instances'}[${r}]`;
    if (Array.isArray(row)) {
      if (row.length === 0) throw new InvalidInputError(`${where}: is empty, expected ${perRow} values`);
      decodeInto(row, opts.rowShape, { datatype: 'FP64', target: opts.target, where }, out, r * perRow);
    } else if (row !== null && typeof row === 'object') {
      if (!objectRows) {
        throw new InvalidInputError(`${where}: this model takes rows as arrays of shape [${opts.rowShape.join(', ')}], not objects`);
      }
      const record = row as Record<string, unknown>;
      for (const key of Object.keys(record)) {
        if (!opts.featureNames.includes(key)) {
          throw new InvalidInputError(`${where}: unknown feature ${quoted(key)} (expected ${opts.featureNames.join(', ')})`);
        }
      }
      opts.featureNames.forEach((name, j) => {
        if (!Object.hasOwn(record, name)) throw new InvalidInputError(`${where}: missing feature "${name}"`);
        store(out, r * perRow + j, checkedNumber(record[name], 'FP64', opts.target, `${where}.${name}`));
      });
    } else {
      throw new InvalidInputError(
        `${where}: expected an array of ${perRow} numbers or an object keyed by feature name, got ${describeValue(row)}`,
      );
    }
  }
  return out;
}

/** Numbers of a typed output as plain JSON numbers (int64 beyond 2^53 loses precision, as JSON must). */
export function toJsonNumbers(data: ArrayLike<number | bigint>): number[] {
  const out = new Array<number>(data.length);
  for (let i = 0; i < data.length; i++) out[i] = Number(data[i]);
  return out;
}

/** Index of the first non-finite value, or -1. */
export function firstNonFinite(data: ArrayLike<number | bigint>): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v === 'number' && !Number.isFinite(v)) return i;
  }
  return -1;
}
