import { BnserveError } from '../../lib/errors.ts';

/** An ONNX model bnserve will not import as it is (exit 2, HTTP 400); the message says what to change in the source framework. */
export class ImportError extends BnserveError {
  constructor(message: string) {
    super('invalid_input', message);
  }
}
