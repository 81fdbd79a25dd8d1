// The admin token over gRPC: the repository RPCs need "authorization: Bearer $BNSERVE_ADMIN_TOKEN" in
// the call's metadata, as REST's admin routes need the header (the same check, dataplane/admin-token.ts).
import { type Metadata, status } from '@grpc/grpc-js';
import { bearerMatches } from '../dataplane/admin-token.ts';
import { GrpcStatusError } from './status.ts';

/**
 * Throws PERMISSION_DENIED when no admin token is configured (REST: 403), UNAUTHENTICATED when the
 * call does not carry it (REST: 401).
 */
export function requireAdminToken(metadata: Metadata, token: string | undefined): void {
  if (!token) {
    throw new GrpcStatusError(status.PERMISSION_DENIED, 'admin RPCs are disabled: set BNSERVE_ADMIN_TOKEN to enable them');
  }
  const sent = metadata.get('authorization').find((v): v is string => typeof v === 'string');
  if (!bearerMatches(sent, token)) {
    throw new GrpcStatusError(
      status.UNAUTHENTICATED,
      'missing or wrong admin token (send the metadata "authorization: Bearer $BNSERVE_ADMIN_TOKEN")',
    );
  }
}
