/** An error whose message is safe to show to the client, with the HTTP status to answer with. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    /** Why a 503 was answered, as a metrics label ('load_failed', 'not_loaded', 'registry_unavailable', …). */
    readonly reason?: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string) => new HttpError(400, message);
export const notFound = (message: string) => new HttpError(404, message);
export const unprocessable = (message: string) => new HttpError(422, message);
export type UnavailableReason = 'load_failed' | 'not_loaded' | 'registry_unavailable';
export const unavailable = (message: string, reason: UnavailableReason) => new HttpError(503, message, reason);

/** A request whose content (not its transport) is wrong: bad tensor data, unknown feature, wrong shape. */
export class InvalidInputError extends HttpError {
  constructor(message: string) {
    super(400, message);
    this.name = 'InvalidInputError';
  }
}
