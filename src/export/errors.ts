/** Every failure the exporter reports on purpose: unreadable checkpoints, unsupported layers, failed parity. */
export class ExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExportError';
  }
}
