/**
 * The one error model. Domain code throws a BnserveError (or a subclass) with a stable `code`;
 * the edges translate: the CLI to an exit code (src/commands/errors.ts), the server to an HTTP
 * status (src/serve/http/plugins/errors.ts). Anything that is not a BnserveError is a bug.
 */
export const ERROR_CODES = {
  /** A training config, a serving setting or a CLI argument is wrong. */
  invalid_config: true,
  /** A training data file is unreadable or inconsistent. */
  invalid_data: true,
  /** A request's content is wrong: tensor data, shapes, datatypes, feature names. */
  invalid_input: true,
  /** A checkpoint folder is missing, unreadable or inconsistent. */
  checkpoint_invalid: true,
  /** The exporter refused: unsupported layer, failed parity, bad opset. */
  export_failed: true,
  /** A model, version, alias or run does not exist. */
  not_found: true,
  /** The request would overwrite or contradict what exists (duplicate version, alias in use). */
  conflict: true,
  /** A stored artifact does not match its recorded checksum, or a file is missing. */
  integrity: true,
  /** A registry call was given a value it cannot store. */
  invalid: true,
  /** The registry (database) cannot be reached. */
  unavailable: true,
  /** A policy said no (e.g. promoting a version the BN guard flagged without --force). */
  refused: true,
  /** Training diverged or produced non-finite weights: nothing was saved or registered. */
  training_diverged: true,
  /** The model cannot answer: not loaded yet, its load failed, or the registry is down. */
  model_unavailable: true,
  /** The model's queue is full or a request waited in it too long. */
  overloaded: true,
  /** The model answered, but with a value that cannot be served (NaN, Inf). */
  unservable_output: true,
  /** A model version cannot be loaded (bad graph, failed warm-up, no execution provider). */
  model_load_failed: true,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class BnserveError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export function isBnserveError(error: unknown): error is BnserveError {
  return error instanceof BnserveError;
}

/** A bad training config, serving setting or argument: the CLI prints the message alone, exit code 2. */
export class ConfigError extends BnserveError {
  constructor(message: string) {
    super('invalid_config', message);
  }
}
