// Domain errors → gRPC statuses: the one place where the gRPC edge translates them.
import { status } from '@grpc/grpc-js';
import { RegistryError } from '../../registry/types.ts';
import { HttpError } from '../http-errors.ts';

export interface GrpcStatus {
  code: status;
  /** Safe to show to the client: the domain error's own message, or a generic one. */
  details: string;
}

const BY_HTTP_STATUS: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  404: status.NOT_FOUND,
  422: status.INVALID_ARGUMENT,
  503: status.UNAVAILABLE,
};

const REGISTRY_UNAVAILABLE = 'the model registry is unavailable; try again once ServerReady (or GET /v2/health/ready) answers ready';

/**
 * The status a failed call answers with, as REST answers the same error: 400/422 INVALID_ARGUMENT,
 * 404 NOT_FOUND, 503 UNAVAILABLE (queue full or timed out, no version ready, registry down), with
 * the error's message. Anything else is INTERNAL with a generic message: details go to the log only.
 */
export function grpcStatusFor(error: unknown): GrpcStatus {
  if (error instanceof HttpError) {
    const code = BY_HTTP_STATUS[error.statusCode];
    if (code !== undefined) return { code, details: error.message };
  }
  if (error instanceof RegistryError && error.code === 'unavailable') return { code: status.UNAVAILABLE, details: REGISTRY_UNAVAILABLE };
  return { code: status.INTERNAL, details: 'internal server error' };
}
