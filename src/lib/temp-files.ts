// Names of the temp files and folders we write before renaming them into place, and the rule for
// when one was abandoned (its writer was killed) and may be removed. The name carries the host and
// the pid of the writer, so a sweeper never removes a temp that a live process (on this machine) or
// a process on another host sharing the folder (a container, a pod) may still be writing.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

const TEMP_MARK = '.tmp-';
/** Temps this old are abandoned whoever wrote them (no write of ours takes a day). */
const ABANDONED_AFTER_MS = 24 * 60 * 60 * 1000;

function safeHost(): string {
  return hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';
}

/** `<target>.tmp-<host>-<pid>-<random>`: unique, and tells who wrote it. */
export function tempPathFor(target: string): string {
  return `${target}${TEMP_MARK}${safeHost()}-${process.pid}-${randomBytes(6).toString('hex')}`;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether `name` (a file or folder name) is a temp of `targetName` that no one is writing any more:
 * written on this host by a process that is gone, or older than a day. Anything else is left alone.
 */
export function isAbandonedTemp(name: string, targetName: RegExp, mtimeMs: number, now = Date.now()): boolean {
  const at = name.lastIndexOf(TEMP_MARK);
  if (at <= 0 || !targetName.test(name.slice(0, at))) return false;
  const match = /^(.+)-(\d+)-[0-9a-f]{12}$/.exec(name.slice(at + TEMP_MARK.length));
  if (!match) return false;
  if (now - mtimeMs > ABANDONED_AFTER_MS) return true;
  const pid = Number(match[2]);
  return match[1] === safeHost() && pid !== process.pid && !isAlive(pid);
}
