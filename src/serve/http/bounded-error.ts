// Errors as the request log shows them: bounded, whatever their message holds. A failed response
// serialisation carries a validation error listing every bad value (one 18 MB line per request for a
// grid of NaN), so the log keeps a prefix of each text and the count of what it cut.

const MAX_TEXT = 2000;
const MAX_CAUSE_DEPTH = 2;

/** text, or its first MAX_TEXT characters and how many more there were. */
export function boundedText(text: string, max = MAX_TEXT): string {
  return text.length <= max ? text : `${text.slice(0, max)}…(${text.length - max} more characters)`;
}

export interface LoggedError {
  type: string;
  message: string;
  code?: string;
  stack?: string;
  /** Validation errors: how many issues there were (only the message's prefix is kept). */
  issues?: number;
  cause?: LoggedError | string;
}

/** A log-safe copy of an error: type, code, bounded message and stack, and its cause (two levels). */
export function loggedError(error: unknown, depth = 0): LoggedError | string {
  if (!(error instanceof Error)) return boundedText(String(error));
  const logged: LoggedError = { type: error.name, message: boundedText(error.message) };
  const { code, issues } = error as { code?: unknown; issues?: unknown };
  if (typeof code === 'string') logged.code = code;
  if (Array.isArray(issues)) logged.issues = issues.length;
  if (error.stack) logged.stack = boundedText(error.stack);
  if (error.cause !== undefined && depth < MAX_CAUSE_DEPTH) logged.cause = loggedError(error.cause, depth + 1);
  return logged;
}
