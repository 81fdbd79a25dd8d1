import { BnserveError } from './errors.ts';

/** A data file that cannot be used: unreadable, not a regular file, too large, or not the data the config describes. */
export class DataError extends BnserveError {
  constructor(message: string) {
    super('invalid_data', message);
  }
}
