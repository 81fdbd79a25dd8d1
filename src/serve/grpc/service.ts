// GRPCInferenceService: each RPC answers what its REST twin answers, through the same functions.
import { type sendUnaryData, type ServerUnaryCall, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { DataPlane } from '../dataplane/data-plane.ts';
import { ModelUnavailableError } from '../dataplane/errors.ts';
import type { LoadedVersion } from '../dataplane/loaded-version.ts';
import type { OutputTensor } from '../dataplane/tensors.ts';
import { parseInferRequest, parseModelRef } from './infer-request.ts';
import type { ModelInferRequest, ModelInferResponse, ModelMetadataResponse, ModelRef } from './messages.ts';
import { SERVICE_NAME } from './proto.ts';
import { grpcStatusFor } from './status.ts';
import { rawOutputContents, typedContentsCanCarry, typedOutputContents } from './tensor-contents.ts';

/** What one call resolved, for its metrics and log line (as request.served is for REST). */
interface CallRecord {
  /** The model named by the call, once its name was read. */
  model: string;
  served: { model: string; version: number } | null;
}

type Handler<Req, Res> = (request: Req, record: CallRecord) => Promise<Res>;

/**
 * A unary handler: answers the response or the error's gRPC status, and records the call as REST
 * records a request: bnserve_requests_total / _duration_seconds with route = the gRPC method path
 * and status = the gRPC status name, bnserve_unavailable_responses_total, one log line.
 */
function unary<Req, Res>(plane: DataPlane, rpc: string, handle: Handler<Req, Res>) {
  const route = `/${SERVICE_NAME}/${rpc}`;
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    const started = performance.now();
    const record: CallRecord = { model: '', served: null };
    const finish = (code: status) => {
      const ms = performance.now() - started;
      plane.metrics.observeRequest(route, record.served, status[code], ms / 1000);
      const served = record.served ? { model: record.served.model, version: record.served.version } : {};
      plane.log.info({ rpc: route, status: status[code], ms: Math.round(ms * 100) / 100, ...served }, 'request');
    };
    handle(call.request, record).then(
      (response) => {
        finish(status.OK);
        callback(null, response);
      },
      (err: unknown) => {
        const answer = grpcStatusFor(err);
        if (answer.code === status.UNAVAILABLE) {
          const reason = err instanceof ModelUnavailableError ? err.reason : 'registry_unavailable';
          plane.metrics.unavailable.inc({ route, model: record.served?.model ?? record.model, reason });
        }
        if (answer.code === status.INTERNAL) plane.log.error({ err, rpc: route }, 'gRPC call failed with an internal error');
        else plane.log.info({ error: answer.details, rpc: route }, 'request rejected');
        finish(answer.code);
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

/** The Open Inference Protocol's GRPCInferenceService over the data plane (the one REST uses too). */
export function inferenceServiceImplementation(plane: DataPlane): UntypedServiceImplementation {
  const served = (record: CallRecord, v: LoadedVersion) => {
    record.served = { model: v.name, version: v.version };
  };
  return {
    ServerLive: unary(plane, 'ServerLive', async () => ({ live: true })),
    ServerReady: unary(plane, 'ServerReady', async () => ({ ready: plane.serverReadiness().ready })),
    ServerMetadata: unary(plane, 'ServerMetadata', async () => plane.serverMetadata()),
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
    ModelInfer: unary(plane, 'ModelInfer', async (request: ModelInferRequest, record) => {
      const parsed = parseInferRequest(request, plane.config.limits);
      record.model = parsed.model;
      return plane.lease(parsed.model, parsed.version, true, async (v) => {
        served(record, v);
        return plane.runTensors(v, parsed.tensors, (outputs) => inferResponse(v, parsed.id, outputs, parsed.raw));
      });
    }),
  };
}
