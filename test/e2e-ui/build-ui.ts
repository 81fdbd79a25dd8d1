// Builds the dashboard (npm run build:ui) when dist/ui is missing or older than its sources, so the
// browser test works on a fresh clone; and measures what the page ships, gzipped.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const UI_DIST = path.join(ROOT, 'dist', 'ui');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const file = path.join(dir, e.name);
    return e.isDirectory() ? filesUnder(file) : [file];
  });
}

function newestSource(): number {
  const sources = [...filesUnder(path.join(ROOT, 'ui')), path.join(ROOT, 'package.json')];
  return Math.max(...sources.map((f) => statSync(f).mtimeMs));
}

export function ensureUiBuilt(): { built: boolean } {
  const index = path.join(UI_DIST, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestSource()) return { built: false };
  const vite = path.join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(process.execPath, [vite, 'build', '--config', 'ui/vite.config.ts', '--logLevel', 'warn'], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`npm run build:ui failed:\n${result.stdout}\n${result.stderr}`);
  return { built: true };
}

/** Bytes of the page's JS, CSS and HTML after gzip (the .gz files served beside them are not counted twice). */
export function shippedGzipBytes(): { total: number; files: Record<string, number> } {
  const files: Record<string, number> = {};
  for (const file of filesUnder(UI_DIST).filter((f) => /\.(js|css|html)$/.test(f))) {
    files[path.relative(UI_DIST, file)] = gzipSync(readFileSync(file), { level: 9 }).length;
  }
  return { total: Object.values(files).reduce((a, b) => a + b, 0), files };
}
