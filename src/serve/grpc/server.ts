// The gRPC server's lifecycle: bind beside the HTTP listener, drain on shutdown.
import { Server, ServerCredentials, type ServerOptions } from '@grpc/grpc-js';
import { ConfigError } from '../../lib/errors.ts';
import type { ServeConfig } from '../config.ts';
import type { DataPlane } from '../dataplane/data-plane.ts';
import { IncompleteRequestBudget, incompleteRequestGuard } from './incomplete-requests.ts';
import { inferenceService } from './proto.ts';
import { inferenceServiceImplementation } from './service.ts';
import { OpenStreams, type StreamLimits, withMeasuredStreamRequests } from './stream-infer.ts';

export interface GrpcEndpoint {
  /** "host:port" as a gRPC client takes it (IPv6 hosts in brackets). */
  address: string;
  port: number;
  /**
   * Stops accepting calls and waits for the calls in flight to be answered (an open stream answers
   * the requests it has read, then ends UNAVAILABLE); after timeoutMs whatever is still open is
   * cancelled (forced: true).
   */
  drain(timeoutMs: number): Promise<{ forced: boolean }>;
}

const hostPart = (host: string) => (host.includes(':') ? `[${host}]` : host);

/**
 * Server-wide room for requests still arriving, by default in requests of the largest size
 * (BNSERVE_BODY_LIMIT_BYTES): 32 MiB. Node frees what a cut request held only at its next garbage
 * collection, which it lets external memory grow by about 64 MiB before running, so the peak an
 * attack can cause is about this budget + 64 MiB (BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB sets it).
 */
const INCOMPLETE_REQUEST_BUDGET_IN_BODIES = 8;

export function incompleteRequestBudgetBytes(config: Pick<ServeConfig, 'grpc' | 'limits'>): number {
  const { incompleteRequestsMb } = config.grpc;
  return incompleteRequestsMb !== undefined
    ? incompleteRequestsMb * 2 ** 20
    : INCOMPLETE_REQUEST_BUDGET_IN_BODIES * config.limits.bodyLimit;
}

/**
 * What clients may hold, as the HTTP side bounds it: a message at most the body limit (grpc-js
 * answers RESOURCE_EXHAUSTED beyond it), so many streams per connection, so much HTTP/2 session
 * memory per connection (node refuses new streams past it), and a request that must arrive within
 * the request timeout and fit the server-wide budget (incomplete-requests.ts).
 */
export function grpcServerOptions(config: ServeConfig): ServerOptions {
  const budget = new IncompleteRequestBudget(incompleteRequestBudgetBytes(config));
  return {
    'grpc.max_receive_message_length': config.limits.bodyLimit,
    'grpc.max_concurrent_streams': config.grpc.maxConcurrentStreams,
    'grpc-node.max_session_memory': config.grpc.maxSessionMemoryMb,
    interceptors: [incompleteRequestGuard({ timeoutMs: config.timeouts.requestMs, budget })],
  };
}

/** Why listening failed, in a few words (grpc-js wraps node's listen error in a message of its own). */
export function listenFailureReason(err: Error): string {
  if (err.message.includes('EADDRINUSE')) return 'the port is in use';
  if (err.message.includes('EACCES')) return 'permission denied';
  return err.message.replace(/\s+/g, ' ');
}

/** Why the gRPC port could not be bound, on one line that names the setting to change. */
export function grpcBindFailure(host: string, port: number, err: Error): string {
  return `cannot serve gRPC on ${hostPart(host)}:${port}: ${listenFailureReason(err)}; set BNSERVE_GRPC_PORT to a free port (0 turns gRPC off)`;
}

/** Serves GRPCInferenceService over the data plane (whose models are loaded) on host:port (0: a free port). */
export async function startGrpcServer(
  dataPlane: DataPlane,
  host: string,
  port: number,
  options: { streamLimits?: Partial<StreamLimits> } = {},
): Promise<GrpcEndpoint> {
  const server = new Server(grpcServerOptions(dataPlane.config));
  const streams = new OpenStreams();
  server.addService(
    withMeasuredStreamRequests(inferenceService()),
    inferenceServiceImplementation(dataPlane, { streams, streamLimits: options.streamLimits }),
  );
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${hostPart(host)}:${port}`, ServerCredentials.createInsecure(), (err, p) => {
      if (!err) return resolve(p);
      server.forceShutdown();
      reject(new ConfigError(grpcBindFailure(host, port, err)));
    });
  });
  return {
    address: `${hostPart(host)}:${bound}`,
    port: bound,
    drain: (timeoutMs) =>
      new Promise((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve({ forced: true });
        }, timeoutMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve({ forced: false });
        });
        // Open ModelStreamInfer calls would hold the shutdown until the timeout: each answers what it has read, then ends.
        streams.closeAll();
      }),
  };
}
