// `bnserve import --sample FILE`: real inputs for the parity gate and the BN drift check.
//   .npy  one array (the model's only input), e.g. np.save("sample.npy", x.numpy())
//   .csv  rows of numbers (a header row is skipped) for a model whose only input is [batch, features]
//   .json a nested array (the only input), {"<input name>": nested array, …}, or an OIP v2 body
//         {"inputs": [{"name", "shape", "data"}]}
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import npyjs from 'npyjs';
import { onnx } from '../onnx/proto.ts';
import { ImportError } from './errors.ts';
import type { Feeds, InputSpec, TensorData } from './run-graph.ts';

const T = onnx.TensorProto.DataType;

interface Loose {
  dims: number[];
  values: ArrayLike<number | bigint>;
}

export function parseSample(file: string, bytes: Buffer, specs: readonly InputSpec[]): Feeds {
  const ext = path.extname(file).toLowerCase();
  const loose =
    ext === '.npy'
      ? fromNpy(file, bytes, specs)
      : ext === '.csv'
        ? fromCsv(file, bytes, specs)
        : ext === '.json'
          ? fromJson(file, bytes, specs)
          : null;
  if (!loose) throw new ImportError(`--sample ${file}: use a .npy, .csv or .json file`);
  const feeds: Feeds = {};
  for (const spec of specs) {
    const given = loose.get(spec.name);
    if (!given)
      throw new ImportError(`--sample ${file} has no values for input "${spec.name}" (inputs: ${specs.map((s) => s.name).join(', ')})`);
    feeds[spec.name] = typed(file, spec, given);
  }
  return feeds;
}

function only(file: string, specs: readonly InputSpec[], what: string): string {
  if (specs.length !== 1) {
    throw new ImportError(
      `--sample ${file}: ${what} holds one input, but the model has ${specs.length}; use JSON {"<input name>": […], …}`,
    );
  }
  return specs[0].name;
}

function fromNpy(file: string, bytes: Buffer, specs: readonly InputSpec[]): Map<string, Loose> {
  let array: { shape: number[]; data: ArrayLike<number | bigint>; fortranOrder?: boolean };
  try {
    const parsed = new npyjs().parse(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    array = { shape: parsed.shape, data: parsed.data as unknown as ArrayLike<number | bigint>, fortranOrder: parsed.fortranOrder };
  } catch (error) {
    throw new ImportError(`--sample ${file} is not a .npy array: ${(error as Error).message}`);
  }
  if (array.fortranOrder) throw new ImportError(`--sample ${file} is in Fortran order; save np.ascontiguousarray(x)`);
  return new Map([[only(file, specs, 'a .npy file'), { dims: array.shape, values: array.data }]]);
}

function fromCsv(file: string, bytes: Buffer, specs: readonly InputSpec[]): Map<string, Loose> {
  let rows: string[][];
  try {
    rows = parseCsv(bytes, { skip_empty_lines: true, trim: true });
  } catch (error) {
    throw new ImportError(`--sample ${file}: ${(error as Error).message}`);
  }
  if (rows.length > 0 && rows[0].some((cell) => cell === '' || Number.isNaN(Number(cell)))) rows = rows.slice(1);
  if (rows.length === 0) throw new ImportError(`--sample ${file} has no rows`);
  // csv-parse refuses rows of another length than the first ("Invalid Record Length").
  const values = rows.flatMap((row, r) => row.map((cell) => number(file, cell, `row ${r + 1}`)));
  return new Map([[only(file, specs, 'a CSV file'), { dims: [rows.length, rows[0].length], values }]]);
}

function fromJson(file: string, bytes: Buffer, specs: readonly InputSpec[]): Map<string, Loose> {
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ImportError(`--sample ${file} is not JSON: ${(error as Error).message}`);
  }
  if (Array.isArray(body)) return new Map([[only(file, specs, 'a JSON array'), nested(file, body)]]);
  if (body && typeof body === 'object' && Array.isArray((body as { inputs?: unknown }).inputs)) {
    const out = new Map<string, Loose>();
    for (const t of (body as { inputs: Array<{ name?: unknown; shape?: unknown; data?: unknown }> }).inputs) {
      const data = Array.isArray(t.data) ? nested(file, t.data) : null;
      if (typeof t.name !== 'string' || !data) throw new ImportError(`--sample ${file}: each of "inputs" needs a name and data`);
      const shape = Array.isArray(t.shape) ? (t.shape as number[]) : data.dims;
      out.set(t.name, { dims: shape, values: data.values });
    }
    return out;
  }
  if (body && typeof body === 'object') {
    return new Map(
      Object.entries(body).map(([name, value]) => [name, Array.isArray(value) ? nested(file, value) : { dims: [], values: [] }]),
    );
  }
  throw new ImportError(`--sample ${file}: expected an array or an object`);
}

/** A rectangular nested array as its shape and its numbers in row-major order. */
function nested(file: string, value: unknown[]): Loose {
  const dims: number[] = [];
  for (let level: unknown = value; Array.isArray(level); level = level[0]) dims.push(level.length);
  const values: number[] = [];
  const walk = (v: unknown, depth: number, where: string) => {
    if (depth === dims.length) {
      values.push(number(file, v, where));
      return;
    }
    if (!Array.isArray(v) || v.length !== dims[depth])
      throw new ImportError(`--sample ${file}: ${where} is not a ${dims[depth]}-long array (ragged)`);
    for (let i = 0; i < v.length; i++) walk(v[i], depth + 1, `${where}[${i}]`);
  };
  walk(value, 0, 'data');
  return { dims, values };
}

function number(file: string, value: unknown, where: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n))
    throw new ImportError(`--sample ${file}: ${where} is not a finite number (${String(value)})`);
  return n;
}

/** The values as the input's element type, after checking the shape against the declared one. */
function typed(file: string, spec: InputSpec, given: Loose): TensorData {
  const count = given.dims.reduce((a, b) => a * b, 1);
  const declared = `[${spec.dims.map((d) => d ?? '?').join(', ')}]`;
  const fits = given.dims.length === spec.dims.length && spec.dims.every((d, i) => typeof d !== 'number' || d <= 0 || d === given.dims[i]);
  if (!fits || count !== given.values.length || count === 0) {
    throw new ImportError(`--sample ${file}: input "${spec.name}" has shape [${given.dims.join(', ')}], the model declares ${declared}`);
  }
  const values = Array.from(given.values, Number);
  switch (spec.elemType) {
    case T.FLOAT:
      return { dims: given.dims, data: Float32Array.from(values) };
    case T.DOUBLE:
      return { dims: given.dims, data: Float64Array.from(values) };
    case T.INT32:
      return { dims: given.dims, data: Int32Array.from(values) };
    case T.INT64:
      return { dims: given.dims, data: BigInt64Array.from(values, (v) => BigInt(Math.trunc(v))) };
    default:
      throw new ImportError(
        `input "${spec.name}" has element type ${T[spec.elemType] ?? spec.elemType}; bnserve feeds float, double, int32 and int64`,
      );
  }
}
