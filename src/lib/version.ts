import { createRequire } from 'node:module';

/** bnserve's version, from package.json (two levels up from src/lib and from dist/lib alike). */
export const BNSERVE_VERSION: string = createRequire(import.meta.url)('../../package.json').version;
