import { BnserveError, type ErrorCode } from '../lib/errors.ts';

/**
 * Exit codes by error code: 2 bad input (config, data, arguments), 3 checkpoint or export refused,
 * 4 registry (missing model/version, integrity, database down), 5 training diverged; 1 for the
 * serving-time codes a command does not expect.
 */
export const EXIT_CODES: Record<ErrorCode, number> = {
  invalid_config: 2,
  invalid_data: 2,
  invalid_input: 2,
  checkpoint_invalid: 3,
  export_failed: 3,
  not_found: 4,
  conflict: 4,
  integrity: 4,
  invalid: 4,
  unavailable: 4,
  refused: 4,
  training_diverged: 5,
  model_unavailable: 1,
  overloaded: 1,
  unservable_output: 1,
  model_load_failed: 1,
};

/** Errors the user can act on print their message alone; anything else is a bug and prints its stack. */
export function reportError(error: unknown, json: boolean): number {
  const err = error instanceof Error ? error : new Error(String(error));
  if (json) process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  if (err instanceof BnserveError) {
    process.stderr.write(`bnserve: error: ${err.message}\n`);
    return EXIT_CODES[err.code];
  }
  process.stderr.write(`bnserve: unexpected error: ${err.stack ?? err.message}\n`);
  return 1;
}
