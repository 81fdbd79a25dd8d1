// OpenTelemetry server spans for gRPC: one per ModelInfer call, per request of a ModelStreamInfer
// stream and per repository load or unload, continuing a `traceparent` sent in the call's metadata.
import type { TextMapGetter } from '@opentelemetry/api';
import { type Metadata, status } from '@grpc/grpc-js';
import { ATTR, type ServerTrace, startServerTrace } from '../../tracing/spans.ts';
import { tracingEnabled } from '../../tracing/tracing.ts';
import { SERVICE_NAME } from './proto.ts';

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (metadata) => Object.keys(metadata.getMap()),
  get: (metadata, key) => {
    const values = metadata.get(key);
    return values.length === 0 ? undefined : values.map(String);
  },
};

/** The call's server span, or null when tracing is off. */
export function startCallTrace(rpc: string, metadata: Metadata): ServerTrace | null {
  if (!tracingEnabled()) return null;
  return startServerTrace(`${SERVICE_NAME}/${rpc}`, metadata, metadataGetter, {
    [ATTR.protocol]: 'grpc',
    'rpc.system': 'grpc',
    'rpc.service': SERVICE_NAME,
    'rpc.method': rpc,
  });
}

/** The statuses OpenTelemetry's conventions count as the server's failure (the others are the caller's). */
const SERVER_FAILURES = new Set<status>([
  status.UNKNOWN,
  status.DEADLINE_EXCEEDED,
  status.UNIMPLEMENTED,
  status.INTERNAL,
  status.UNAVAILABLE,
  status.DATA_LOSS,
]);

export function endCallTrace(trace: ServerTrace, code: status): void {
  trace.end({ 'rpc.grpc.status_code': code }, SERVER_FAILURES.has(code));
}
