// The request `bnserve tune` sends: an Open Inference Protocol v2 JSON body for the version's input
// signature, from the warm-up rows stored in its artifact when there are some (real rows), else
// seeded random rows of the right shape.
import { ConfigError } from '../lib/errors.ts';
import type { TensorSignature } from '../registry/types.ts';
import { createRng, normal } from '../train/rng.ts';
import type { WarmupSample } from '../export/onnx/warmup.ts';

export interface InferBody {
  inputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
}

const INTEGER_TYPES = new Set(['INT8', 'INT16', 'INT32', 'INT64', 'UINT8', 'UINT16', 'UINT32', 'UINT64']);
const FLOAT_TYPES = new Set(['FP16', 'BF16', 'FP32', 'FP64']);

/** The shape of `rows` rows: the batch dimension set, any other dynamic dimension taken as 1. */
function shapeOf(input: TensorSignature, rows: number): number[] {
  return [rows, ...input.shape.slice(1).map((d) => (d > 0 ? d : 1))];
}

function randomData(input: TensorSignature, elements: number, rng: () => number): number[] {
  if (FLOAT_TYPES.has(input.datatype)) return Array.from({ length: elements }, () => Math.round(normal(rng) * 1e4) / 1e4);
  if (INTEGER_TYPES.has(input.datatype)) return Array.from({ length: elements }, () => Math.floor(rng() * 10));
  throw new ConfigError(`input ${input.name} is ${input.datatype}: tune can only make numeric rows`);
}

/** `rows` rows of the sample's input, repeating its rows when it has fewer; null when it does not fit the signature. */
function sampleRows(input: TensorSignature, sample: WarmupSample, only: boolean, rows: number, shape: number[]): number[] | null {
  const given = sample.inputs.find((i) => i.name === input.name) ?? (only ? sample.inputs[0] : undefined);
  if (!given || given.shape.length !== shape.length || given.shape[0] < 1) return null;
  const perRow = shape.slice(1).reduce((a, b) => a * b, 1);
  if (given.shape.slice(1).reduce((a, b) => a * b, 1) !== perRow || given.data.length < given.shape[0] * perRow) return null;
  return Array.from({ length: rows * perRow }, (_, i) => given.data[(Math.floor(i / perRow) % given.shape[0]) * perRow + (i % perRow)]);
}

export interface TuneRequest {
  body: InferBody;
  /** Where the rows came from, for the report. */
  rowSource: 'warm-up sample' | 'random (seeded)';
}

/** A v2 infer body with `rows` rows per input. */
export function tuneRequest(inputs: readonly TensorSignature[], rows: number, sample: WarmupSample | null, seed = 1): TuneRequest {
  const rng = createRng(seed);
  let allFromSample = true;
  const body = {
    inputs: inputs.map((input) => {
      const shape = shapeOf(input, rows);
      let data = sample ? sampleRows(input, sample, inputs.length === 1, rows, shape) : null;
      if (!data) {
        allFromSample = false;
        data = randomData(
          input,
          shape.reduce((a, b) => a * b, 1),
          rng,
        );
      }
      return { name: input.name, shape, datatype: input.datatype, data };
    }),
  };
  return { body, rowSource: allFromSample ? 'warm-up sample' : 'random (seeded)' };
}
