import { BnserveError } from '../lib/errors.ts';

/** A checkpoint folder that cannot be read: a missing or malformed file, or a model the reader cannot represent. */
export class CheckpointError extends BnserveError {
  constructor(message: string) {
    super('checkpoint_invalid', message);
  }
}
