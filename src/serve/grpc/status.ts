// Domain errors → gRPC statuses: the one place where the gRPC edge translates them.
import { status } from '@grpc/grpc-js';
import { BnserveError, type ErrorCode } from '../../lib/errors.ts';

export interface GrpcStatus {
  code: status;
  /** Safe to show to the client: the domain error's own message, or a generic one. */
  details: string;
}

/**
 * As REST answers the same codes (src/serve/plugins/errors.ts): 400/422 → INVALID_ARGUMENT,
 * 404 → NOT_FOUND, 409 → FAILED_PRECONDITION, 503 → UNAVAILABLE; null: a bug or server-side
 * damage, answered INTERNAL with a generic message (details go to the log only).
 */
const GRPC_STATUS: Record<ErrorCode, status | null> = {
  invalid_input: status.INVALID_ARGUMENT,
  invalid_config: status.INVALID_ARGUMENT,
  invalid_data: status.INVALID_ARGUMENT,
  invalid: status.INVALID_ARGUMENT,
  unservable_output: status.INVALID_ARGUMENT,
  model_load_failed: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  conflict: status.FAILED_PRECONDITION,
  refused: status.FAILED_PRECONDITION,
  unavailable: status.UNAVAILABLE,
  model_unavailable: status.UNAVAILABLE,
  overloaded: status.UNAVAILABLE,
  integrity: null,
  checkpoint_invalid: null,
  export_failed: null,
  training_diverged: null,
};

/** An answer only the gRPC edge gives (no domain error behind it): the admin token checks. */
export class GrpcStatusError extends Error {
  constructor(
    readonly code: status,
    readonly details: string,
  ) {
    super(details);
    this.name = 'GrpcStatusError';
  }
}

const REGISTRY_UNAVAILABLE = 'the model registry is unavailable; try again once ServerReady (or GET /v2/health/ready) answers ready';

/** The status a failed call answers with, with the error's message where REST shows it too. */
export function grpcStatusFor(error: unknown): GrpcStatus {
  if (error instanceof GrpcStatusError) return { code: error.code, details: error.details };
  if (error instanceof BnserveError) {
    if (error.code === 'unavailable') return { code: status.UNAVAILABLE, details: REGISTRY_UNAVAILABLE };
    const code = GRPC_STATUS[error.code];
    if (code !== null) return { code, details: error.message };
  }
  return { code: status.INTERNAL, details: 'internal server error' };
}
