// The Open Inference Protocol's gRPC service with Triton's extensions, loaded at run time from
// proto/grpc_predict_v2.proto (which imports proto/model_config.proto from its own folder).
import { fileURLToPath } from 'node:url';
import type { ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

export const PROTO_PATH = fileURLToPath(new URL('../../../proto/grpc_predict_v2.proto', import.meta.url));
export const SERVICE_NAME = 'inference.GRPCInferenceService';

/**
 * How messages map to JS objects: field names as in the .proto (model_name, raw_input_contents),
 * int64 as decimal strings (exact; a number would round above 2^53), absent fields as their
 * defaults, repeated fields always arrays, and the name of the set member of each oneof.
 */
export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, arrays: true, oneofs: true };

let loaded: ServiceDefinition | null = null;

/** The service definition for grpc-js's Server.addService (loaded once per process). */
export function inferenceService(): ServiceDefinition {
  loaded ??= loadSync(PROTO_PATH, LOADER_OPTIONS)[SERVICE_NAME] as ServiceDefinition;
  return loaded;
}
