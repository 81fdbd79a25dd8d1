// gRPC as the fault suite and the limit tests send it: a client of the published service (from the
// project's .proto), and calls as a hostile client sends them over raw HTTP/2 — a request message
// declared, partly sent and never finished, on a stream that is never ended.
import http2 from 'node:http2';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ROOT } from './processes.ts';

const definition = loadSync(path.join(ROOT, 'proto', 'grpc_predict_v2.proto'), {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});
/** inference.GRPCInferenceService's client constructor. */
export const InferenceClient = (grpc.loadPackageDefinition(definition).inference as grpc.GrpcObject)
  .GRPCInferenceService as grpc.ServiceClientConstructor;

export const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';

export interface StalledCallEnd {
  /** false when the caller gave up waiting and closed the stream itself. */
  closedByServer: boolean;
  /** grpc-status of the server's answer; null when the stream was closed without one. */
  grpcStatus: number | null;
  /** RST_STREAM code: 0 after an answer, 7 (REFUSED_STREAM) for a stream over max_concurrent_streams. */
  rstCode: number;
  ms: number;
}

/**
 * One HTTP/2 connection. Its session memory is raised because what the caller queues to send counts
 * there, and past node's default 10 MB the client would refuse the server's answers.
 */
export function rawConnection(address: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://${address}`, { maxSessionMemory: 8192 });
  session.on('error', () => {});
  return session;
}

/**
 * A call whose 5-byte gRPC prefix declares `declared` bytes, followed by `payload` and nothing
 * more, END_STREAM never sent; resolves when the server closes the stream, or after giveUpMs.
 */
export function stalledCall(
  session: http2.ClientHttp2Session,
  declared: number,
  payload: Buffer,
  { path = MODEL_INFER, giveUpMs = 60_000 } = {},
): Promise<StalledCallEnd> {
  const started = performance.now();
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(declared, 1);
  const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers' });
  let grpcStatus: number | null = null;
  const readStatus = (headers: http2.IncomingHttpHeaders) => {
    if (headers['grpc-status'] !== undefined) grpcStatus = Number(headers['grpc-status']);
  };
  stream.on('response', readStatus);
  stream.on('trailers', readStatus);
  stream.on('error', () => {});
  stream.resume();
  stream.write(prefix);
  stream.write(payload);
  let closedByServer = true;
  const giveUp = setTimeout(() => {
    closedByServer = false;
    stream.close(http2.constants.NGHTTP2_CANCEL);
  }, giveUpMs);
  return new Promise((resolve) => {
    stream.on('close', () => {
      clearTimeout(giveUp);
      resolve({ closedByServer, grpcStatus, rstCode: stream.rstCode ?? 0, ms: performance.now() - started });
    });
  });
}
