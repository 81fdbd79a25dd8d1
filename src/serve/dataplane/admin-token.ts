// The admin token check both transports make: REST's "Authorization: Bearer …" header and gRPC's
// "authorization: Bearer …" metadata carry the same value (BNSERVE_ADMIN_TOKEN).
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Constant-time check of "Bearer <token>" (the scheme in any case, spaces around the token ignored). */
export function bearerMatches(header: string | undefined, token: string): boolean {
  const match = /^Bearer\s+(.+)$/i.exec(header ?? '');
  return match !== null && timingSafeEqual(digest(match[1].trim()), digest(token));
}
