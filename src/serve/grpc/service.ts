// GRPCInferenceService: each RPC answers what its REST twin answers, through the same functions
// (ModelStreamInfer, a stream of ModelInfer calls, is in stream-infer.ts).
import type { Metadata, sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { activeServerTrace } from '../../tracing/spans.ts';
import type { DataPlane } from '../dataplane/data-plane.ts';
import { InvalidInputError } from '../dataplane/errors.ts';
import type { LoadedVersion } from '../dataplane/loaded-version.ts';
import type { OutputTensor } from '../dataplane/tensors.ts';
import { modelConfiguration, modelStatistics } from '../dataplane/triton-extensions.ts';
import { requireAdminToken } from './admin-auth.ts';
import { parseInferRequest, parseModelRef } from './infer-request.ts';
import type {
  ModelConfigRequest,
  ModelConfigResponse,
  ModelInferRequest,
  ModelInferResponse,
  ModelMetadataResponse,
  ModelRef,
  ModelStatisticsRequest,
  ModelStatisticsResponse,
  RepositoryIndexRequest,
  RepositoryIndexResponse,
  RepositoryModelRequest,
} from './messages.ts';
import { type CallRecord, observeCall } from './observe.ts';
import { defaultStreamLimits, modelStreamInfer, OpenStreams, type StreamLimits } from './stream-infer.ts';
import { rawOutputContents, typedContentsCanCarry, typedOutputContents } from './tensor-contents.ts';

type Handler<Req, Res> = (request: Req, record: CallRecord, metadata: Metadata) => Promise<Res>;

/**
 * A unary handler: answers the response or the error's gRPC status, counted and logged (observe.ts);
 * `traced`: under a server span (observed.succeeded after the callback, which serialises the response).
 */
function unary<Req, Res>(plane: DataPlane, rpc: string, handle: Handler<Req, Res>, traced = false) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const observed = observeCall(plane, rpc, traced ? call.metadata : undefined);
    const run = () => handle(call.request, observed.record, call.metadata);
    (observed.trace ? observed.trace.run(run) : run()).then(
      (response) => {
        callback(null, response);
        observed.succeeded();
      },
      (err: unknown) => {
        const answer = observed.failed(err);
        callback({ code: answer.code, details: answer.details });
      },
    );
  };
}

/** The part of REST's model metadata that the protocol's ModelMetadataResponse has fields for. */
function modelMetadata(plane: DataPlane, v: LoadedVersion): ModelMetadataResponse {
  const m = plane.modelMetadata(v);
  return { name: m.name, versions: m.versions, platform: m.platform, inputs: m.inputs, outputs: m.outputs };
}

/** Outputs as typed contents, or as raw bytes when the inputs came raw (or a datatype has no typed field). */
function inferResponse(v: LoadedVersion, id: string, outputs: OutputTensor[], raw: boolean): ModelInferResponse {
  const asRaw = raw || !typedContentsCanCarry(outputs.map((o) => o.datatype));
  return {
    model_name: v.name,
    model_version: String(v.version),
    id,
    outputs: outputs.map((o) => ({
      name: o.name,
      datatype: o.datatype,
      shape: o.shape,
      ...(asRaw ? {} : { contents: typedOutputContents(o.datatype, o.data) }),
    })),
    raw_output_contents: asRaw ? outputs.map((o) => rawOutputContents(o.data)) : [],
  };
}

/** Extensions that only the HTTP transport serves: gRPC has its own raw contents, and no :predict. */
const HTTP_ONLY_EXTENSIONS = new Set(['binary_tensor_data', 'tf_serving_predict']);

/** The server metadata REST answers, with the extensions a gRPC caller can use. */
function grpcServerMetadata(plane: DataPlane) {
  const m = plane.serverMetadata();
  return { ...m, extensions: m.extensions.filter((e) => !HTTP_ONLY_EXTENSIONS.has(e)) };
}

const served = (record: CallRecord, v: LoadedVersion) => {
  record.served = { model: v.name, version: v.version };
};

/** One ModelInfer, for a unary call or one request of a stream: the same path as REST's /infer. */
export async function modelInfer(plane: DataPlane, request: ModelInferRequest, record: CallRecord): Promise<ModelInferResponse> {
  const parsed = parseInferRequest(request, plane.config.limits);
  record.model = parsed.model;
  const trace = activeServerTrace();
  trace?.rows(parsed.tensors.inputs[0]?.shape[0]);
  return plane.lease(parsed.model, parsed.version, true, async (v) => {
    served(record, v);
    return plane.runTensors(v, parsed.tensors, (outputs) => {
      // Ended with the call (observe.ts), after grpc-js has serialised the message.
      trace?.startEncoding();
      return inferResponse(v, parsed.id, outputs, parsed.raw);
    });
  });
}

/** Triton loads registry versions as registered: a load that brings its own config or files is refused, as REST refuses it. */
function refuseLoadOverrides(parameters: RepositoryModelRequest['parameters']): void {
  const overrides = Object.keys(parameters).filter((k) => k === 'config' || k.startsWith('file:'));
  if (overrides.length > 0) {
    throw new InvalidInputError(
      `load with ${overrides.map((k) => `parameters["${k}"]`).join(', ')} is not supported: bnserve loads the registry's versions as registered ` +
        '(batching settings: PUT /admin/models/{model}/batching); send the load request without config or files',
    );
  }
}

/** bnserve has one repository, its registry. */
function checkRepositoryName(name: string): void {
  if (name !== '')
    throw new InvalidInputError(`repository_name: bnserve serves one repository (its registry); leave it empty, not "${name}"`);
}

export interface ServiceOptions {
  /** Streams open now, for the drain (server.ts); a fresh set when not given. */
  streams?: OpenStreams;
  /** How much one ModelStreamInfer may have in flight (defaults: stream-infer.ts). */
  streamLimits?: Partial<StreamLimits>;
}

/** The Open Inference Protocol's GRPCInferenceService, with Triton's extensions, over the data plane (the one REST uses too). */
export function inferenceServiceImplementation(plane: DataPlane, options: ServiceOptions = {}): UntypedServiceImplementation {
  const adminOnly = (metadata: Metadata) => requireAdminToken(metadata, plane.config.adminToken);
  return {
    ServerLive: unary(plane, 'ServerLive', async () => ({ live: true })),
    ServerReady: unary(plane, 'ServerReady', async () => ({ ready: plane.serverReadiness().ready })),
    ServerMetadata: unary(plane, 'ServerMetadata', async () => grpcServerMetadata(plane)),
    ModelReady: unary(plane, 'ModelReady', async (request: ModelRef, record) => {
      const { model, version } = parseModelRef(request.name, request.version);
      record.model = model;
      const answer = await plane.modelReady(model, version);
      return { ready: answer.code === 200 && answer.body.ready };
    }),
    ModelMetadata: unary(plane, 'ModelMetadata', async (request: ModelRef, record) => {
      const { model, version } = parseModelRef(request.name, request.version);
      record.model = model;
      return plane.lease(model, version, false, async (v) => {
        served(record, v);
        return modelMetadata(plane, v);
      });
    }),
    ModelInfer: unary(plane, 'ModelInfer', (request: ModelInferRequest, record) => modelInfer(plane, request, record), true),
    ModelStreamInfer: modelStreamInfer(
      plane,
      options.streams ?? new OpenStreams(),
      { ...defaultStreamLimits(plane.config), ...options.streamLimits },
      (request, record) => modelInfer(plane, request, record),
    ),
    ModelConfig: unary(plane, 'ModelConfig', async (request: ModelConfigRequest, record): Promise<ModelConfigResponse> => {
      const { model, version } = parseModelRef(request.name, request.version);
      record.model = model;
      const v = plane.models.peek(model, version);
      served(record, v);
      return { config: modelConfiguration(plane, v) };
    }),
    ModelStatistics: unary(plane, 'ModelStatistics', async (request: ModelStatisticsRequest, record): Promise<ModelStatisticsResponse> => {
      if (request.name === '') {
        if (request.version !== '') throw new InvalidInputError("version: give the model's name too (an empty name asks for every model)");
        return modelStatistics(plane);
      }
      const { model, version } = parseModelRef(request.name, request.version);
      record.model = model;
      return modelStatistics(plane, model, version);
    }),
    RepositoryIndex: unary(
      plane,
      'RepositoryIndex',
      async (request: RepositoryIndexRequest, _record, metadata): Promise<RepositoryIndexResponse> => {
        adminOnly(metadata);
        checkRepositoryName(request.repository_name);
        const entries = await plane.models.index();
        return { models: request.ready ? entries.filter((e) => e.state === 'READY') : entries };
      },
    ),
    RepositoryModelLoad: unary(
      plane,
      'RepositoryModelLoad',
      async (request: RepositoryModelRequest, record, metadata) => {
        adminOnly(metadata);
        checkRepositoryName(request.repository_name);
        const { model } = parseModelRef(request.model_name, '', { name: 'model_name', version: '' });
        record.model = model;
        refuseLoadOverrides(request.parameters);
        await plane.models.load(model);
        return {};
      },
      true,
    ),
    RepositoryModelUnload: unary(
      plane,
      'RepositoryModelUnload',
      async (request: RepositoryModelRequest, record, metadata) => {
        adminOnly(metadata);
        checkRepositoryName(request.repository_name);
        const { model } = parseModelRef(request.model_name, '', { name: 'model_name', version: '' });
        record.model = model;
        await plane.models.unload(model);
        return {};
      },
      true,
    ),
  };
}
