// The tensor types shared by the scheduler (batcher.ts), the runners (model-runner.ts) and the
// request path (inference.ts): one module, so that none of them imports another for its types.
import type { ElementArray } from './tensor-data.ts';

/** One model input, [rows, ...], in the model's element type. */
export interface Feed {
  data: ElementArray;
  dims: readonly number[];
}

/** The elements of an output tensor, flat, row-major. */
export type OutputData =
  | Float32Array
  | Float64Array
  | Int32Array
  | BigInt64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | BigUint64Array;

/**
 * One output tensor, from the run to the answer: named, typed and shaped as the Open Inference
 * Protocol names them. The runners make it from onnxruntime's tensors (toOutputs), the scheduler
 * splits it by rows, REST, gRPC and `:predict` encode it.
 */
export interface OutputTensor {
  name: string;
  /** Open Inference Protocol datatype ("FP32", "INT64", …). */
  datatype: string;
  /** [rows, ...] for a batched output. */
  shape: number[];
  data: OutputData;
}

/** A run's outputs by output name. */
export type RunOutputs = Record<string, OutputTensor>;
