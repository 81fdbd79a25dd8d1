// src/serve must never load tfjs, directly or through anything it imports (relative imports followed).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FORBIDDEN = /^@tensorflow\//;

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? tsFilesUnder(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every package specifier reachable from `entries`, with the chain of files that leads to it. */
function reachablePackages(entries: string[]): Map<string, string[]> {
  const found = new Map<string, string[]>();
  const seen = new Set<string>();
  const queue: { file: string; chain: string[] }[] = entries.map((file) => ({ file, chain: [file] }));
  while (queue.length > 0) {
    const { file, chain } = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    // preProcessFile lists static imports, re-exports, and dynamic import() calls.
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: spec } of importedFiles) {
      if (spec.startsWith('.')) {
        const target = path.resolve(path.dirname(file), spec);
        queue.push({ file: /\.[cm]?[jt]s$/.test(target) ? target : `${target}.ts`, chain: [...chain, target] });
      } else if (!found.has(spec)) {
        found.set(spec, chain);
      }
    }
  }
  return found;
}

const show = (chain: string[]) => chain.map((f) => path.relative(ROOT, f)).join(' → ');

describe('src/serve import graph', () => {
  it('reaches no @tensorflow package', () => {
    const packages = reachablePackages(tsFilesUnder(path.join(ROOT, 'src/serve')));
    assert.ok(packages.has('onnxruntime-node'), 'the walk sees the packages src/serve really uses');
    assert.ok(packages.has('fastify'));
    const offending = [...packages].filter(([spec]) => FORBIDDEN.test(spec));
    assert.deepEqual(
      offending.map(([spec, chain]) => `${spec} via ${show(chain)}`),
      [],
    );
  });

  it('detects tfjs behind a relative and a dynamic import (the check can fail)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bnserve-graph-'));
    try {
      mkdirSync(path.join(dir, 'train'));
      writeFileSync(path.join(dir, 'entry.ts'), "import { x } from './middle.ts';\nexport const y = x;\n");
      writeFileSync(path.join(dir, 'middle.ts'), "export { x } from './train/backend.ts';\n");
      writeFileSync(
        path.join(dir, 'train', 'backend.ts'),
        "export const x = 1;\nexport async function load() { return import('@tensorflow/tfjs'); }\n",
      );
      const packages = reachablePackages([path.join(dir, 'entry.ts')]);
      const chain = packages.get('@tensorflow/tfjs');
      assert.ok(chain, 'tfjs found');
      assert.deepEqual(
        chain.map((f) => path.basename(f)),
        ['entry.ts', 'middle.ts', 'backend.ts'],
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
