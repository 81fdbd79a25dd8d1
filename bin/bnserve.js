#!/usr/bin/env node
// Runs the compiled CLI (dist/, built from src/ by `npm run build`). No TypeScript loader at run time:
// the images ship dist/ without src/, tsx and esbuild. In a checkout that has src/, a missing build or
// one older than the sources is refused with the command that fixes it, so nobody runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(import.meta.dirname, '..');
const entry = path.join(root, 'dist', 'cli.js');
const sources = path.join(root, 'src');

/** The most recently modified .ts file under `dir`, or null when there is none. */
function newestSource(dir) {
  let newest = null;
  for (const item of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, item.name);
    const candidate = item.isDirectory()
      ? newestSource(full)
      : item.name.endsWith('.ts')
        ? { file: full, mtimeMs: statSync(full).mtimeMs }
        : null;
    if (candidate && (!newest || candidate.mtimeMs > newest.mtimeMs)) newest = candidate;
  }
  return newest;
}

function buildProblem() {
  if (!existsSync(entry)) return 'dist/cli.js is missing: the TypeScript sources have not been compiled';
  if (!existsSync(sources)) return null;
  const newest = newestSource(sources);
  if (newest && newest.mtimeMs > statSync(entry).mtimeMs) {
    return `dist/ is older than the sources (${path.relative(root, newest.file)} changed after the last build)`;
  }
  return null;
}

const problem = buildProblem();
if (problem) {
  console.error(`bnserve: ${problem}. Run \`npm run build\` in ${root}, then try again.`);
  process.exit(1);
}
await import(pathToFileURL(entry).href);
