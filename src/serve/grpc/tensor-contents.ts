// gRPC tensor contents ↔ the typed arrays the inference core uses: typed `contents`
// (fp32_contents, …) or raw little-endian bytes (raw_input_contents / raw_output_contents), with
// the same element checks as REST's JSON and binary data.
import { InvalidInputError } from '../dataplane/errors.ts';
import { decodeBinaryTensor, tensorBytes } from '../dataplane/tensor-bytes.ts';
import { decodeTensorData, elementCount, type ElementArray, type InputDatatype, type ModelElementType } from '../dataplane/tensor-data.ts';
import type { OutputTensor } from '../dataplane/tensors.ts';
import type { InferTensorContents } from './messages.ts';

type ContentsField = keyof InferTensorContents;

/** The typed field that carries each input datatype. */
const INPUT_FIELD: Record<InputDatatype, ContentsField> = {
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
};

const BYTES_PER: Record<InputDatatype, number> = { FP32: 4, FP64: 8, INT32: 4, INT64: 8 };

/** Fields that are set (non-empty) in a contents message. */
function setFields(contents: InferTensorContents | null): ContentsField[] {
  if (!contents) return [];
  return (Object.keys(contents) as ContentsField[]).filter((k) => Array.isArray(contents[k]) && contents[k].length > 0);
}

export interface InputContents {
  datatype: InputDatatype;
  shape: readonly number[];
  target: ModelElementType;
  /** Element budget for typed contents: shapes claiming more are refused before anything is allocated. */
  maxElements: number;
  /** "inputs[0]" */
  where: string;
}

/** Decodes one input's typed contents (the field its datatype names, and no other). */
export function decodeTypedContents(contents: InferTensorContents | null, opts: InputContents): ElementArray {
  const field = INPUT_FIELD[opts.datatype];
  const others = setFields(contents).filter((f) => f !== field);
  if (others.length > 0) {
    throw new InvalidInputError(`${opts.where}.contents: datatype ${opts.datatype} is carried in ${field}, not in ${others.join(', ')}`);
  }
  const values = contents?.[field] ?? [];
  if (values.length === 0) throw new InvalidInputError(`${opts.where}.contents.${field}: required (or raw_input_contents for every input)`);
  // int64 arrives as decimal strings: Number() keeps every value up to 2^53 exact, and anything
  // beyond becomes a non-safe integer, which the element check refuses as REST does.
  const numbers = field === 'int64_contents' ? (values as (string | number)[]).map(Number) : (values as number[]);
  return decodeTensorData(numbers, opts.shape, { ...opts, where: `${opts.where}.contents.${field}` });
}

/** Decodes one input's raw bytes (raw_input_contents[index]). */
export function decodeRawContents(bytes: Buffer, index: number, opts: InputContents): ElementArray {
  const where = `raw_input_contents[${index}]`;
  // Nothing is allocated before the size matches: the bytes (within the message size limit) bound the shape.
  const need = elementCount(opts.shape) * BYTES_PER[opts.datatype];
  if (bytes.length !== need) {
    throw new InvalidInputError(
      `${where}: ${bytes.length} bytes, but ${opts.where} (shape [${opts.shape.join(', ')}] of ${opts.datatype}) needs ${need}`,
    );
  }
  return decodeBinaryTensor(bytes, { datatype: opts.datatype, shape: opts.shape, target: opts.target, where });
}

/** The typed field for each output datatype ('' for those only raw contents can carry: FP16, BYTES). */
const OUTPUT_FIELD: Record<string, ContentsField | ''> = {
  FP32: 'fp32_contents',
  FP64: 'fp64_contents',
  INT8: 'int_contents',
  INT16: 'int_contents',
  INT32: 'int_contents',
  INT64: 'int64_contents',
  UINT8: 'uint_contents',
  UINT16: 'uint_contents',
  UINT32: 'uint_contents',
  UINT64: 'uint64_contents',
  BOOL: 'bool_contents',
};

/** Whether every output datatype has a typed field (otherwise the response must use raw contents). */
export function typedContentsCanCarry(datatypes: readonly string[]): boolean {
  return datatypes.every((d) => Boolean(OUTPUT_FIELD[d]));
}

/** An output's elements in the typed field of its datatype (int64: decimal strings, exact). */
export function typedOutputContents(datatype: string, data: OutputTensor['data']): Partial<InferTensorContents> {
  const field = OUTPUT_FIELD[datatype];
  if (!field) throw new Error(`no typed contents field for datatype ${datatype}`);
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return { [field]: Array.from(data, String) };
  if (field === 'bool_contents') return { bool_contents: Array.from(data as Uint8Array, (b) => b !== 0) };
  return { [field]: Array.from(data as ArrayLike<number>) };
}

/** An output's raw little-endian bytes (a view, no copy). */
export function rawOutputContents(data: OutputTensor['data']): Buffer {
  return tensorBytes(data);
}
