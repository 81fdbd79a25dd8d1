import { BnserveError } from '../lib/errors.ts';

/** Every failure the exporter reports on purpose: unreadable checkpoints, unsupported layers, failed parity. */
export class ExportError extends BnserveError {
  constructor(message: string) {
    super('export_failed', message);
  }
}
