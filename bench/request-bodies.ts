// The request bodies the HTTP benchmarks send: one row (or `rows` copies of it) of the Iris-sized
// model or the 784-wide MLP, as TF Serving :predict JSON, OIP v2 JSON, or OIP v2 binary (the JSON
// header, then the float32 bytes; the answer asked for in binary too).
import { MLP_SIZES } from './serve-child.ts';

export const JSON_HEADERS = { 'content-type': 'application/json' };
export const IRIS_ROW = [5.1, 3.5, 1.4, 0.2];
export const MLP_ROW = Array.from({ length: MLP_SIZES[0] }, (_, i) => Math.fround(((i * 37) % 255) / 255));

export const predictBody = (row: number[]) => JSON.stringify({ instances: [row] });

export const v2JsonBody = (row: number[]) =>
  JSON.stringify({ inputs: [{ name: 'input', shape: [1, row.length], datatype: 'FP32', data: row }] });

export function v2BinaryRequest(row: number[], rows = 1): { body: Buffer; headers: Record<string, string> } {
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [rows, row.length], datatype: 'FP32', parameters: { binary_data_size: rows * row.length * 4 } }],
      outputs: [{ name: 'probabilities', parameters: { binary_data: true } }],
    }),
  );
  return {
    body: Buffer.concat([header, Buffer.from(Float32Array.from({ length: rows * row.length }, (_, i) => row[i % row.length]).buffer)]),
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
  };
}
