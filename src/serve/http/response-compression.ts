// gzip/deflate for inference responses (Triton's and KServe's response_compression_algorithm).
// Only successful inference answers are compressed: Triton's clients decompress those themselves
// (its aio client turns aiohttp's decompression off and always sends "Accept-Encoding: gzip, deflate"),
// but read every other answer, errors included, as plain JSON.
import zlib from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';

/** Smaller bodies go out as they are: compressing them saves too little. */
export const COMPRESS_THRESHOLD_BYTES = 1024;

/** gzip or deflate from an Accept-Encoding header (q-values honoured, gzip preferred on a tie), else null. */
export function negotiateEncoding(header: string | undefined): 'gzip' | 'deflate' | null {
  if (!header) return null;
  const q = new Map<string, number>();
  for (const part of header.toLowerCase().split(',')) {
    const [name, ...params] = part.trim().split(';');
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qParam ? Number(qParam.slice(2)) : 1;
    q.set(name.trim() === 'x-gzip' ? 'gzip' : name.trim(), Number.isFinite(value) ? value : 0);
  }
  const of = (e: string) => q.get(e) ?? q.get('*') ?? 0;
  const gzip = of('gzip');
  const deflate = of('deflate');
  if (gzip <= 0 && deflate <= 0) return null;
  return gzip >= deflate ? 'gzip' : 'deflate';
}

/** onSend hook for the inference routes. */
export async function compressInferenceResponse(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
  if (reply.statusCode < 200 || reply.statusCode >= 300 || reply.getHeader('content-encoding') !== undefined) return payload;
  const encoding = negotiateEncoding(request.headers['accept-encoding']);
  if (!encoding) return payload;
  const body = typeof payload === 'string' ? Buffer.from(payload) : Buffer.isBuffer(payload) ? payload : null;
  if (!body || body.length < COMPRESS_THRESHOLD_BYTES) return payload;
  reply.header('content-encoding', encoding);
  reply.header('vary', 'Accept-Encoding');
  // Inference-Header-Content-Length keeps counting the uncompressed JSON header, as Triton's clients expect.
  return encoding === 'gzip' ? zlib.gzipSync(body) : zlib.deflateSync(body);
}
