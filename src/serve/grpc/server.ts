// The gRPC server's lifecycle: bind beside the HTTP listener, drain on shutdown.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { FastifyInstance } from 'fastify';
import { inferenceService } from './proto.ts';
import { inferenceServiceImplementation } from './service.ts';

export interface GrpcEndpoint {
  /** "host:port" as a gRPC client takes it (IPv6 hosts in brackets). */
  address: string;
  port: number;
  /**
   * Stops accepting calls and waits for the calls in flight to be answered; after timeoutMs
   * whatever is still open is cancelled (forced: true).
   */
  drain(timeoutMs: number): Promise<{ forced: boolean }>;
}

const hostPart = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** Serves GRPCInferenceService for the app (whose models are loaded) on host:port (0: a free port). */
export async function startGrpcServer(app: FastifyInstance, host: string, port: number): Promise<GrpcEndpoint> {
  // The same size limit as an HTTP body (BNSERVE_BODY_LIMIT_BYTES); grpc-js answers RESOURCE_EXHAUSTED beyond it.
  const server = new Server({ 'grpc.max_receive_message_length': app.serveConfig.limits.bodyLimit });
  server.addService(inferenceService(), inferenceServiceImplementation(app));
  const bound = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${hostPart(host)}:${port}`, ServerCredentials.createInsecure(), (err, p) => {
      if (!err) return resolve(p);
      server.forceShutdown();
      reject(
        new Error(
          `cannot serve gRPC on ${hostPart(host)}:${port} (BNSERVE_GRPC_PORT picks another port, 0 turns gRPC off): ${err.message}`,
        ),
      );
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
      }),
  };
}
