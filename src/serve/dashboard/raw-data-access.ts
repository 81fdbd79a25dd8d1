// Who may read raw training rows and server paths through the dashboard API
// (BNSERVE_DASHBOARD_RAW_DATA): everyone, or only callers with the admin token. "auto" opens them
// to everyone only on a server listening on loopback, where every caller is on the machine anyway.
import { isIPv4, isIPv6 } from 'node:net';
import type { ServeConfig } from '../config.ts';
import { bearerMatches } from '../http/routes/admin.ts';

export type RawDataAudience = 'everyone' | 'admin';

export function isLoopbackHost(host: string): boolean {
  const name = host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (name === 'localhost' || name === 'localhost.') return true;
  if (isIPv4(name)) return name.startsWith('127.');
  if (isIPv6(name)) return name === '::1' || /^::ffff:127\./.test(name) || /^(0{1,4}:){7}0{0,3}1$/.test(name);
  return false;
}

export function rawDataAudience(config: Pick<ServeConfig, 'host' | 'dashboardRawData'>): RawDataAudience {
  if (config.dashboardRawData !== 'auto') return config.dashboardRawData;
  return isLoopbackHost(config.host) ? 'everyone' : 'admin';
}

export function mayReadRawData(
  config: Pick<ServeConfig, 'host' | 'dashboardRawData' | 'adminToken'>,
  authorization: string | undefined,
): boolean {
  if (rawDataAudience(config) === 'everyone') return true;
  return config.adminToken !== undefined && config.adminToken !== '' && bearerMatches(authorization, config.adminToken);
}

/** Why a caller got no training rows, and what opens them. */
export function rawDataHiddenReason(config: Pick<ServeConfig, 'adminToken'>): string {
  const token = config.adminToken
    ? 'send the admin token ("Authorization: Bearer $BNSERVE_ADMIN_TOKEN")'
    : 'set BNSERVE_ADMIN_TOKEN and send it ("Authorization: Bearer …")';
  return `training rows are shown to admins only on this server: ${token}, or set BNSERVE_DASHBOARD_RAW_DATA=everyone`;
}
