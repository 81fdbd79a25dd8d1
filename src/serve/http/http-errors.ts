/**
 * An error about the HTTP exchange itself (auth, media type, body size, malformed JSON), thrown
 * only by the HTTP edge: routes, hooks and body parsers. Domain code throws the errors of
 * src/serve/dataplane/errors.ts and src/lib/errors.ts, which the error plugin maps to a status.
 */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}
