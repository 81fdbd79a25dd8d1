/** A checkpoint folder that cannot be read: a missing or malformed file, or a model the reader cannot represent. */
export class CheckpointError extends Error {
  readonly code = 'checkpoint_invalid';

  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}
