// The server's domain errors. They say what went wrong, not how to answer it: the HTTP status is
// chosen by the error plugin (http/plugins/errors.ts) and the gRPC status by its own mapping.
import { BnserveError } from '../../lib/errors.ts';

/** A request whose content (not its transport) is wrong: bad tensor data, unknown feature, wrong shape. */
export class InvalidInputError extends BnserveError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}

export const invalidInput = (message: string) => new InvalidInputError(message);

/** No such model, version, alias, or the model is unloaded. */
export const notFound = (message: string) => new BnserveError('not_found', message);

export type UnavailableReason = 'load_failed' | 'not_loaded' | 'registry_unavailable' | 'queue_full' | 'queue_timeout';

/** The model cannot answer now; `reason` labels the 503 in the metrics. */
export class ModelUnavailableError extends BnserveError {
  constructor(
    message: string,
    readonly reason: UnavailableReason,
    code: 'model_unavailable' | 'overloaded' = 'model_unavailable',
  ) {
    super(code, message);
  }
}

/** The model answered with values that cannot be served (NaN, Infinity). */
export const unservableOutput = (message: string) => new BnserveError('unservable_output', message);
