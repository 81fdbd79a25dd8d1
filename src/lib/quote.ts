// User text quoted in error messages and log lines, bounded: a 1 MB name must not become a 1 MB answer.

/** Characters of user text an error message quotes before cutting it short. */
export const QUOTED_CHARS = 64;

/** text as a JSON string, cut to QUOTED_CHARS characters plus "…(N chars)" when longer. */
export function quoted(text: string): string {
  if (text.length <= QUOTED_CHARS) return JSON.stringify(text);
  return JSON.stringify(`${text.slice(0, QUOTED_CHARS)}…(${text.length} chars)`);
}
