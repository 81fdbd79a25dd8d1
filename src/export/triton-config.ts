// Triton's model configuration (config.pbtxt, protobuf text format of model_config.proto's
// ModelConfig) for an exported ONNX model: tensors from the model itself, scheduling from the
// same BatchingOptions our server uses. Pure functions.
import type { BatchingOptions } from '../lib/batching.ts';
import { ExportError } from './errors.ts';
import type { TensorDatatype } from '../registry/types.ts';
import type { OnnxSignature, OnnxTensorInfo } from './onnx/signature.ts';

export { onnxSignature } from './onnx/signature.ts';

export type TritonDataType =
  | 'TYPE_BOOL'
  | 'TYPE_UINT8'
  | 'TYPE_UINT16'
  | 'TYPE_UINT32'
  | 'TYPE_UINT64'
  | 'TYPE_INT8'
  | 'TYPE_INT16'
  | 'TYPE_INT32'
  | 'TYPE_INT64'
  | 'TYPE_FP16'
  | 'TYPE_FP32'
  | 'TYPE_FP64'
  | 'TYPE_STRING'
  | 'TYPE_BF16';

/** Triton's name for an Open Inference Protocol datatype: TYPE_ + the name, strings are TYPE_STRING. */
export const tritonDataType = (datatype: TensorDatatype): TritonDataType =>
  (datatype === 'BYTES' ? 'TYPE_STRING' : `TYPE_${datatype}`) as TritonDataType;

export type TritonInstanceKind = 'KIND_AUTO' | 'KIND_CPU' | 'KIND_GPU';

export interface TritonTensor {
  name: string;
  dataType: TritonDataType;
  /** Without the batch dimension when maxBatchSize > 0. */
  dims: number[];
  /** Set for a tensor that is only the batch dimension: Triton wants dims [1] reshaped to []. */
  reshapeToScalar?: true;
}

export interface TritonQueuePolicy {
  maxQueueSize: number;
  defaultTimeoutMicroseconds: number;
  /** A request may shorten its own timeout (our parameters.timeout), never lengthen it. */
  allowTimeoutOverride: boolean;
}

export interface TritonDynamicBatching {
  preferredBatchSizes: number[];
  maxQueueDelayMicroseconds: number;
  defaultQueuePolicy: TritonQueuePolicy;
}

export interface TritonModelConfig {
  name: string;
  platform: 'onnxruntime_onnx';
  /** 0: the model has no leading dynamic batch dimension everywhere, so Triton must not batch it. */
  maxBatchSize: number;
  inputs: TritonTensor[];
  outputs: TritonTensor[];
  dynamicBatching: TritonDynamicBatching | null;
  instanceGroup: { count: number; kind: TritonInstanceKind };
}

/** Same rule as our batcher's: rows are independent only when every tensor leads with a dynamic batch dimension. */
export function hasBatchDimension(signature: OnnxSignature): boolean {
  return [...signature.inputs, ...signature.outputs].every((t) => t.shape.length > 0 && t.shape[0] === -1);
}

function tritonTensor(info: OnnxTensorInfo, batched: boolean): TritonTensor {
  if (!batched) return { name: info.name, dataType: tritonDataType(info.datatype), dims: [...info.shape] };
  const dims = info.shape.slice(1);
  return dims.length > 0
    ? { name: info.name, dataType: tritonDataType(info.datatype), dims }
    : { name: info.name, dataType: tritonDataType(info.datatype), dims: [1], reshapeToScalar: true };
}

/**
 * Maps our scheduling onto Triton's: maxBatchSize → max_batch_size (Triton also caps a single
 * request's rows at it), the delay, preferred sizes (those above max_batch_size, which Triton
 * refuses and our batcher never forms, are left out), queue size and timeout (0 means unbounded in
 * both), instanceCount → instance_group count. Batching off: no dynamic_batching block, so Triton
 * runs each request alone, as our server does.
 */
export function tritonModelConfig(
  name: string,
  signature: OnnxSignature,
  batching: BatchingOptions,
  kind: TritonInstanceKind,
): TritonModelConfig {
  if (signature.inputs.length === 0 || signature.outputs.length === 0) {
    throw new ExportError('the ONNX model needs at least one input and one output for a Triton configuration');
  }
  const batched = hasBatchDimension(signature);
  const maxBatchSize = batched ? batching.maxBatchSize : 0;
  const preferred = [...new Set(batching.preferredBatchSizes)].filter((n) => n <= maxBatchSize).sort((a, b) => a - b);
  return {
    name,
    platform: 'onnxruntime_onnx',
    maxBatchSize,
    inputs: signature.inputs.map((t) => tritonTensor(t, batched)),
    outputs: signature.outputs.map((t) => tritonTensor(t, batched)),
    dynamicBatching:
      batched && batching.enabled
        ? {
            preferredBatchSizes: preferred,
            maxQueueDelayMicroseconds: batching.maxQueueDelayMicroseconds,
            defaultQueuePolicy: {
              maxQueueSize: batching.maxQueueSize,
              defaultTimeoutMicroseconds: batching.queueTimeoutMicroseconds,
              allowTimeoutOverride: true,
            },
          }
        : null,
    instanceGroup: { count: batching.instanceCount, kind },
  };
}

/** A protobuf text-format string literal: quotes, backslashes and control characters escaped. */
const SHORT_ESCAPES: Record<string, string> = { '\\': '\\\\', '"': '\\"', '\n': '\\n', '\t': '\\t', '\r': '\\r' };

function quoted(text: string): string {
  const escaped = Array.from(text, (c) => {
    if (SHORT_ESCAPES[c]) return SHORT_ESCAPES[c];
    const code = c.charCodeAt(0);
    return code < 0x20 || code === 0x7f ? `\\${code.toString(8).padStart(3, '0')}` : c;
  });
  return `"${escaped.join('')}"`;
}

const list = (values: number[]) => `[ ${values.join(', ')} ]`;

function tensorBlock(t: TritonTensor): string[] {
  return [
    '  {',
    `    name: ${quoted(t.name)}`,
    `    data_type: ${t.dataType}`,
    `    dims: ${list(t.dims)}`,
    ...(t.reshapeToScalar ? ['    reshape: { shape: [ ] }'] : []),
    '  }',
  ];
}

function tensorList(field: string, tensors: TritonTensor[]): string[] {
  return [
    `${field} [`,
    ...tensors.flatMap((t, i) => {
      const block = tensorBlock(t);
      if (i < tensors.length - 1) block[block.length - 1] += ',';
      return block;
    }),
    ']',
  ];
}

/** config.pbtxt text: deterministic, so an unchanged model and settings give identical bytes. */
export function formatConfigPbtxt(config: TritonModelConfig): string {
  const lines = [
    `name: ${quoted(config.name)}`,
    `platform: ${quoted(config.platform)}`,
    `max_batch_size: ${config.maxBatchSize}`,
    ...tensorList('input', config.inputs),
    ...tensorList('output', config.outputs),
  ];
  const db = config.dynamicBatching;
  if (db) {
    lines.push(
      'dynamic_batching {',
      ...(db.preferredBatchSizes.length > 0 ? [`  preferred_batch_size: ${list(db.preferredBatchSizes)}`] : []),
      `  max_queue_delay_microseconds: ${db.maxQueueDelayMicroseconds}`,
      '  default_queue_policy {',
      '    timeout_action: REJECT',
      `    default_timeout_microseconds: ${db.defaultQueuePolicy.defaultTimeoutMicroseconds}`,
      `    allow_timeout_override: ${db.defaultQueuePolicy.allowTimeoutOverride}`,
      `    max_queue_size: ${db.defaultQueuePolicy.maxQueueSize}`,
      '  }',
      '}',
    );
  }
  lines.push('instance_group [', '  {', `    count: ${config.instanceGroup.count}`, `    kind: ${config.instanceGroup.kind}`, '  }', ']');
  return `${lines.join('\n')}\n`;
}
