// The messages of proto/grpc_predict_v2.proto (and model_config.proto) as grpc-js hands them over and
// takes them back (see LOADER_OPTIONS in proto.ts: snake_case names, int64 as strings, defaults filled in).
import type { RepositoryEntry } from '../dataplane/model-manager.ts';
import type { TensorMetadata } from '../dataplane/tensor-metadata.ts';
import type { TritonModelConfig, VersionStatsJson } from '../dataplane/triton-extensions.ts';

/** int64 fields: decimal strings when read; numbers or strings when written. */
export type Int64 = string | number;

export interface InferParameter {
  bool_param?: boolean;
  int64_param?: Int64;
  string_param?: string;
  double_param?: number;
  uint64_param?: Int64;
  /** Which member is set. */
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
}

export type ParameterMap = Record<string, InferParameter>;

export interface InferTensorContents {
  bool_contents: boolean[];
  int_contents: number[];
  int64_contents: Int64[];
  uint_contents: number[];
  uint64_contents: Int64[];
  fp32_contents: number[];
  fp64_contents: number[];
  bytes_contents: Buffer[];
}

export interface InferInputTensor {
  name: string;
  datatype: string;
  shape: Int64[];
  parameters: ParameterMap;
  contents: InferTensorContents | null;
}

export interface ModelInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters: ParameterMap;
  inputs: InferInputTensor[];
  outputs: { name: string; parameters: ParameterMap }[];
  raw_input_contents: Buffer[];
}

export interface InferOutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  contents?: Partial<InferTensorContents>;
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: InferOutputTensor[];
  raw_output_contents: Buffer[];
}

export interface ModelRef {
  name: string;
  version: string;
}

export interface ModelMetadataResponse {
  name: string;
  versions: string[];
  platform: string;
  inputs: TensorMetadata[];
  outputs: TensorMetadata[];
}

/** One answer on ModelStreamInfer: the response, or error_message (infer_response then names the request only). */
export interface ModelStreamInferResponse {
  error_message: string;
  infer_response: Partial<ModelInferResponse>;
}

/** ModelConfigRequest, ModelStatisticsRequest: a model and version by name ('' for the default, or for all). */
export type ModelConfigRequest = ModelRef;
export type ModelStatisticsRequest = ModelRef;

export interface ModelConfigResponse {
  config: TritonModelConfig;
}

export interface ModelStatisticsResponse {
  model_stats: VersionStatsJson[];
}

export interface ModelRepositoryParameter {
  bool_param?: boolean;
  int64_param?: Int64;
  string_param?: string;
  bytes_param?: Buffer;
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'bytes_param';
}

export interface RepositoryIndexRequest {
  repository_name: string;
  ready: boolean;
}

export interface RepositoryIndexResponse {
  models: RepositoryEntry[];
}

/** RepositoryModelLoadRequest and RepositoryModelUnloadRequest. */
export interface RepositoryModelRequest {
  repository_name: string;
  model_name: string;
  parameters: Record<string, ModelRepositoryParameter>;
}
