// How a gRPC call, or one request of a stream, is counted and logged: as REST counts and logs a request.
import { type Metadata, status } from '@grpc/grpc-js';
import { type ServerTrace, traceLogFields } from '../../tracing/spans.ts';
import type { DataPlane } from '../dataplane/data-plane.ts';
import { endCallTrace, startCallTrace } from './call-tracing.ts';
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
  /** Its server span, when traced (tracing on and the call's metadata given); run the call under it. */
  trace: ServerTrace | null;
  /** The call (or the stream's request) was answered. */
  succeeded(): void;
  /** It failed: its status, counted and logged. */
  failed(err: unknown): GrpcStatus;
}

/**
 * Starts observing one call, or one request of a stream: it is recorded as REST records a request:
 * bnserve_requests_total / _duration_seconds with route = the gRPC method path and status = the
 * gRPC status name, bnserve_unavailable_responses_total, one log line (with trace_id and span_id
 * when traced). With `metadata` (the calls worth a span), a server span that continues its traceparent.
 */
export function observeCall(plane: DataPlane, rpc: string, metadata?: Metadata): ObservedCall {
  const route = `/${SERVICE_NAME}/${rpc}`;
  const started = performance.now();
  const record: CallRecord = { model: '', served: null };
  const trace = metadata ? startCallTrace(rpc, metadata) : null;
  const finish = (code: status) => {
    const ms = performance.now() - started;
    plane.metrics.observeRequest(route, record.served, status[code], ms / 1000);
    const served = record.served ? { model: record.served.model, version: record.served.version } : {};
    if (trace) {
      if (record.served) trace.served(record.served.model, record.served.version);
      endCallTrace(trace, code);
    }
    plane.log.info(
      { rpc: route, status: status[code], ms: Math.round(ms * 100) / 100, ...served, ...(trace ? traceLogFields(trace.span) : {}) },
      'request',
    );
  };
  return {
    record,
    trace,
    succeeded: () => finish(status.OK),
    failed: (err) => {
      const answer = grpcStatusFor(err);
      trace?.recordError(err);
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
