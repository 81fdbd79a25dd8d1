import path from 'node:path';
import { SETTINGS } from '../settings.ts';
import { RegistryError } from './types.ts';

export type DatabaseProvider = 'sqlite' | 'postgresql';

export interface DatabaseTarget {
  provider: DatabaseProvider;
  /** SQLite: `file:` + absolute path; PostgreSQL: the URL as given. */
  url: string;
  /** SQLite only: absolute path of the database file. */
  filePath: string | null;
}

/** Resolves DATABASE_URL (relative SQLite paths against cwd); rejects anything but file: and postgres(ql)://. */
export function resolveDatabaseTarget(url: string | undefined, cwd: string = process.cwd()): DatabaseTarget {
  const raw = url && url.trim() !== '' ? url.trim() : SETTINGS.DATABASE_URL.fallback;
  if (/^postgres(ql)?:\/\//i.test(raw)) return { provider: 'postgresql', url: raw, filePath: null };
  if (raw.startsWith('file:')) {
    const withoutParams = raw.slice('file:'.length).replace(/\?.*$/, '');
    const plain = withoutParams.startsWith('//') ? withoutParams.replace(/^\/\/(localhost)?/, '') : withoutParams;
    if (plain === '' || plain === ':memory:') {
      throw new RegistryError('invalid', `DATABASE_URL ${raw} has no file path (in-memory SQLite is not supported)`);
    }
    const filePath = path.resolve(cwd, decodeURIComponent(plain));
    return { provider: 'sqlite', url: `file:${filePath}`, filePath };
  }
  throw new RegistryError(
    'invalid',
    `unsupported DATABASE_URL "${redactPassword(raw)}": use file:./path/to/db.sqlite (SQLite) or postgresql://user@host:5432/db`,
  );
}

export function redactPassword(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@');
}
