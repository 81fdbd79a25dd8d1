// Request bodies before routing: which content types are JSON, JSON parsing with messages that say
// what is wrong, and Content-Encoding (gzip/deflate) decompression bounded by the body limit.
import { Transform, type Readable } from 'node:stream';
import zlib from 'node:zlib';
import { quoted } from '../../lib/quote.ts';
import { HttpError } from './http-errors.ts';

/**
 * Media types whose body is read as JSON: application/json; application/octet-stream (Triton's
 * aio client sends its JSON requests with it); text/plain and application/x-www-form-urlencoded
 * (what `curl -d` sends). A request without a Content-Type is read as JSON too (Triton's sync client).
 */
export const JSON_MEDIA_TYPES = ['application/json', 'application/octet-stream', 'text/plain', 'application/x-www-form-urlencoded'];

export function unsupportedMediaType(contentType: string): HttpError {
  const shown = JSON.stringify(contentType.split(';')[0].trim().slice(0, 100));
  return new HttpError(
    415,
    `Content-Type ${shown} is not supported: send JSON as application/json (or without a Content-Type), ` +
      'or binary tensors (POST /v2/models/{m}/infer) as application/octet-stream with Inference-Header-Content-Length',
  );
}

/**
 * Whether a JSON text could hold a forbidden key ("\u" escapes could spell one): three substring
 * searches, ~10× cheaper than one alternation regex over a 15 KB body of numbers.
 */
const suspicious = (text: string) => text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');

/** The first key path that could pollute prototypes once merged ("__proto__" or constructor.prototype), or null. */
function forbiddenKey(value: unknown, path: string, depth: number): string | null {
  if (value === null || typeof value !== 'object' || depth > 64) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = forbiddenKey(value[i], `${path}[${i}]`, depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const child = (value as Record<string, unknown>)[key];
    const where = path ? `${path}.${key}` : key;
    if (key === '__proto__') return where;
    if (key === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype'))
      return `${where}.prototype`;
    const found = forbiddenKey(child, where, depth + 1);
    if (found) return found;
  }
  return null;
}

/**
 * JSON.parse with 400s that say what is wrong: invalid JSON (with the parser's reason) or a
 * forbidden key. An empty body is no body (undefined): routes that need one say so in their schema.
 * `what` names the text in messages, and `hint` follows a JSON syntax error (what to check).
 */
export function parseJsonBody(text: string, what = 'the request body', hint = ''): unknown {
  if (text.trim() === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `${what} is not valid JSON: ${(err as Error).message}${hint}`);
  }
  if (suspicious(text)) {
    const key = forbiddenKey(value, '', 0);
    if (key) throw new HttpError(400, `${what} contains the key ${quoted(key)}, which is not allowed (it could alter object prototypes)`);
  }
  return value;
}

/** Content-Encoding values a request body may have, and the decompressor for each. */
const DECOMPRESSORS = new Map<string, () => zlib.Gunzip | zlib.Inflate>([
  ['gzip', () => zlib.createGunzip()],
  ['x-gzip', () => zlib.createGunzip()],
  // HTTP's "deflate" is the zlib format (RFC 1950), what Python's zlib.compress writes.
  ['deflate', () => zlib.createInflate()],
]);

/**
 * A preParsing step: the decompressed body of a gzip/deflate request, stopped (and the inflater
 * destroyed) with a 413 as soon as it exceeds limit bytes, so a small "zip bomb" costs nothing.
 * Returns the raw stream when the body is not encoded. receivedEncodedLength lets Fastify check
 * Content-Length against the bytes that really arrived.
 */
export function decodedBody(raw: Readable, contentEncoding: string | undefined, limit: number): Readable {
  const encoding = contentEncoding?.trim().toLowerCase();
  if (!encoding || encoding === 'identity') return raw;
  const make = DECOMPRESSORS.get(encoding);
  if (!make) {
    throw new HttpError(
      415,
      `Content-Encoding ${JSON.stringify(encoding.slice(0, 40))} is not supported; send gzip, deflate or no encoding`,
    );
  }
  const inflater = make();
  let decoded = 0;
  const bounded = new Transform({
    transform(chunk: Buffer, _enc, done) {
      decoded += chunk.length;
      if (decoded > limit) {
        done(new HttpError(413, `request body is larger than the limit of ${limit} bytes once decompressed (BNSERVE_BODY_LIMIT_BYTES)`));
        return;
      }
      done(null, chunk);
    },
  }) as Transform & { receivedEncodedLength: number };
  bounded.receivedEncodedLength = 0;
  raw.on('data', (chunk: Buffer) => {
    bounded.receivedEncodedLength += chunk.length;
  });
  // zlib's errors (bad header, truncated data) are the client's: say which encoding did not decode.
  inflater.on('error', (err) => {
    bounded.destroy(new HttpError(400, `the request body is not valid ${encoding} data (Content-Encoding: ${encoding}): ${err.message}`));
  });
  raw.on('error', (err) => bounded.destroy(err));
  bounded.on('error', () => {
    // Over the limit or undecodable: stop inflating at once and discard what is still arriving.
    raw.unpipe(inflater);
    inflater.destroy();
    raw.resume();
  });
  raw.pipe(inflater).pipe(bounded);
  return bounded;
}
