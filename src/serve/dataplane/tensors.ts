// The tensor types shared by the scheduler (batcher.ts), the runners (model-runner.ts) and the
// request path (inference.ts): one module, so that none of them imports another for its types.
import type { ElementArray } from './tensor-data.ts';

/** One model input, [rows, ...], in the model's element type. */
export interface Feed {
  data: ElementArray;
  dims: readonly number[];
}

/** One output tensor as onnxruntime returns it (type: onnxruntime's element type name). */
export interface OutputTensor {
  type: string;
  dims: readonly number[];
  data:
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
}

/** A run's outputs by output name. */
export type RunOutputs = Record<string, OutputTensor>;

/** One output of an answered inference, named and typed as the Open Inference Protocol names it. */
export interface TensorOutput {
  name: string;
  shape: number[];
  /** Open Inference Protocol datatype ("FP32", …). */
  datatype: string;
  data: OutputTensor['data'];
}
