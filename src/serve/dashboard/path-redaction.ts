// What the dashboard shows of server paths to callers who may not see them: the last name only
// ("…/iris.csv"), never the folders above it. Pure functions, no I/O.

/** A path segment: anything up to whitespace, a quote, a separator or punctuation that ends a path in prose. */
const SEGMENT = String.raw`[^\s"'\`,;:()<>\[\]{}|*?/\\]+`;

/** A folder: a segment that another follows; it may hold single spaces ("/home/a/My Data/x.csv"). */
const FOLDER = String.raw`[/\\]+${SEGMENT}(?: ${SEGMENT})*(?=[/\\])`;

/**
 * Absolute paths: POSIX (/srv/x), home (~/x), Windows (C:\x, C:/x), UNC (\\host\share) and file:// URLs.
 * The look-behind keeps "and/or", "5/10" and the path part of http:// URLs out.
 */
const ABSOLUTE_PATH = new RegExp(String.raw`(?<![\w.~:/\\-])(?:file://)?(?:[A-Za-z]:|~)?(?:${FOLDER})*[/\\]+${SEGMENT}[/\\]?`, 'g');

const lastName = (path: string) =>
  path
    .split(/[/\\]+/)
    .filter((s) => s.length > 0)
    .at(-1) ?? '';

/** The text with every absolute path reduced to "…/" and its last name. */
export function redactPaths(text: string): string {
  return text.replace(ABSOLUTE_PATH, (path) => `…/${lastName(path)}`);
}

/**
 * A stored training config as shown without paths: data.path becomes the file's name (relative
 * paths included), and absolute paths in any other string are redacted.
 */
export function redactConfigPaths(config: unknown): unknown {
  const redacted = redactStrings(config);
  const data = (redacted as { data?: unknown } | null)?.data;
  if (data !== null && typeof data === 'object' && typeof (data as { path?: unknown }).path === 'string') {
    const file = lastName((config as { data: { path: string } }).data.path);
    return { ...(redacted as object), data: { ...data, path: file } };
  }
  return redacted;
}

function redactStrings(value: unknown): unknown {
  if (typeof value === 'string') return redactPaths(value);
  if (Array.isArray(value)) return value.map(redactStrings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, redactStrings(inner)]));
  }
  return value;
}
