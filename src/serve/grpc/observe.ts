// How a gRPC call, or one request of a stream, is counted and logged: as REST counts and logs a request.
import { status } from '@grpc/grpc-js';
import type { DataPlane } from '../dataplane/data-plane.ts';
import { ModelUnavailableError } from '../dataplane/errors.ts';
import { SERVICE_NAME } from './proto.ts';
import { type GrpcStatus, grpcStatusFor } from './status.ts';

/** What one call resolved, for its metrics and log line (as request.served is for REST). */
export interface CallRecord {
  /** The model named by the call, once its name was read. */
  model: string;
  served: { model: string; version: number } | null;
}

export interface ObservedCall {
  record: CallRecord;
  /** The call (or the stream's request) was answered. */
  succeeded(): void;
  /** It failed: its status, counted and logged. */
  failed(err: unknown): GrpcStatus;
}

/**
 * Starts observing one call, or one request of a stream: it is recorded as REST records a request:
 * bnserve_requests_total / _duration_seconds with route = the gRPC method path and status = the
 * gRPC status name, bnserve_unavailable_responses_total, one log line.
 */
export function observeCall(plane: DataPlane, rpc: string): ObservedCall {
  const route = `/${SERVICE_NAME}/${rpc}`;
  const started = performance.now();
  const record: CallRecord = { model: '', served: null };
  const finish = (code: status) => {
    const ms = performance.now() - started;
    plane.metrics.observeRequest(route, record.served, status[code], ms / 1000);
    const served = record.served ? { model: record.served.model, version: record.served.version } : {};
    plane.log.info({ rpc: route, status: status[code], ms: Math.round(ms * 100) / 100, ...served }, 'request');
  };
  return {
    record,
    succeeded: () => finish(status.OK),
    failed: (err) => {
      const answer = grpcStatusFor(err);
      if (answer.code === status.UNAVAILABLE) {
        const reason = err instanceof ModelUnavailableError ? err.reason : 'registry_unavailable';
        plane.metrics.unavailable.inc({ route, model: record.served?.model ?? record.model, reason });
      }
      if (answer.code === status.INTERNAL) plane.log.error({ err, rpc: route }, 'gRPC call failed with an internal error');
      else plane.log.info({ error: answer.details, rpc: route }, 'request rejected');
      finish(answer.code);
      return answer;
    },
  };
}
