// The bottom floors import only downwards. src/lib (pure modules: the config schema, BN facts,
// batching knobs, names, errors) imports nothing above it; src/checkpoint (the format) imports only
// itself and src/lib: the flow is config → train → checkpoint → export, and the format never depends
// on the trainer. Every relative import counts, type-only and dynamic ones too.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const SRC = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../src');

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? tsFilesUnder(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** "file → target" for each relative import of a file under src/`floor` that leaves the folders `allowed`. */
export function importsAbove(src: string, floor: string, allowed: readonly string[]): string[] {
  const inside = (file: string) => allowed.some((dir) => !path.relative(path.join(src, dir), file).startsWith('..'));
  return tsFilesUnder(path.join(src, floor)).flatMap((file) =>
    ts
      .preProcessFile(readFileSync(file, 'utf8'), true, true)
      .importedFiles.map(({ fileName }) => fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => path.resolve(path.dirname(file), spec))
      .filter((target) => !inside(target))
      .map((target) => `${path.relative(src, file)} → ${path.relative(src, target)}`),
  );
}

describe('bottom floors', () => {
  it('src/lib imports nothing outside src/lib', () => {
    assert.deepEqual(importsAbove(SRC, 'lib', ['lib']), []);
  });

  it('src/checkpoint imports only src/checkpoint and src/lib (never src/train)', () => {
    assert.deepEqual(importsAbove(SRC, 'checkpoint', ['checkpoint', 'lib']), []);
  });

  it('finds an upward import, type-only or dynamic (the check can fail)', () => {
    const src = mkdtempSync(path.join(tmpdir(), 'bnserve-floors-'));
    try {
      for (const dir of ['lib', 'checkpoint', 'train']) mkdirSync(path.join(src, dir));
      writeFileSync(path.join(src, 'train', 'config.ts'), 'export const x = 1;\n');
      writeFileSync(path.join(src, 'lib', 'ok.ts'), "export { y } from './other.ts';\n");
      writeFileSync(path.join(src, 'checkpoint', 'schemas.ts'), "import type { X } from '../train/config.ts';\nimport '../lib/ok.ts';\n");
      writeFileSync(path.join(src, 'checkpoint', 'read.ts'), "export const load = () => import('../train/config.ts');\n");
      assert.deepEqual(importsAbove(src, 'lib', ['lib']), []);
      assert.deepEqual(importsAbove(src, 'checkpoint', ['checkpoint', 'lib']).sort(), [
        'checkpoint/read.ts → train/config.ts',
        'checkpoint/schemas.ts → train/config.ts',
      ]);
    } finally {
      rmSync(src, { recursive: true, force: true });
    }
  });
});
