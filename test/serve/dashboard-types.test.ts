// The dashboard API's answer types have one owner, src/serve/dashboard/api-schemas.ts: the routes
// validate with its zod schemas and the UI (ui/src/api.ts) imports the types inferred from them, so a
// field the server drops fails the UI's type-check instead of drifting.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SCHEMAS = path.join(ROOT, 'src/serve/dashboard/api-schemas.ts');
const UI = path.join(ROOT, 'ui');

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? tsFilesUnder(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** Every package specifier api-schemas.ts reaches through its relative imports. */
function packagesReached(entry: string): Set<string> {
  const found = new Set<string>();
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const { fileName: spec } of ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles) {
      if (spec.startsWith('.')) queue.push(path.resolve(path.dirname(file), spec));
      else found.add(spec);
    }
  }
  return found;
}

/** `tsc -p ui`'s diagnostics, with api-schemas.ts's text changed by `patch`. */
function uiDiagnostics(patch: (text: string) => string = (text) => text): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    path.join(UI, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, '\n')),
    },
  )!;
  const host = ts.createCompilerHost(config.options);
  const getSourceFile = host.getSourceFile;
  host.getSourceFile = (file, language, ...rest) =>
    path.resolve(file) === SCHEMAS
      ? ts.createSourceFile(file, patch(readFileSync(SCHEMAS, 'utf8')), language)
      : getSourceFile(file, language, ...rest);
  const program = ts.createProgram(config.fileNames, config.options, host);
  assert.ok(program.getSourceFile(SCHEMAS), 'the UI type-checks against api-schemas.ts');
  return ts
    .getPreEmitDiagnostics(program)
    .map((d) => `${d.file ? path.relative(ROOT, d.file.fileName) : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}

describe('dashboard API types', () => {
  it('come from a module with no server runtime (zod only), so the UI can import them', () => {
    assert.deepEqual([...packagesReached(SCHEMAS)], ['zod']);
  });

  it('are not declared again in ui/src: ui/src/api.ts imports them, type-only', () => {
    const names = [...readFileSync(SCHEMAS, 'utf8').matchAll(/^export type (\w+)/gm)].map((m) => m[1]);
    assert.ok(names.includes('RunDetail') && names.includes('VersionView'));
    const redeclared = new RegExp(`^\\s*(export\\s+)?(interface|type)\\s+(${[...names, 'DecisionRegions'].join('|')})\\b`);
    for (const file of tsFilesUnder(path.join(UI, 'src'))) {
      const own = readFileSync(file, 'utf8')
        .split('\n')
        .filter((line) => redeclared.test(line));
      assert.deepEqual(own, [], path.relative(ROOT, file));
    }
    const api = readFileSync(path.join(UI, 'src/api.ts'), 'utf8');
    assert.match(api, /import type \{[^}]*\} from '\.\.\/\.\.\/src\/serve\/dashboard\/api-schemas\.ts'/);
    assert.doesNotMatch(api, /^import \{[^}]*\} from '\.\.\/\.\.\/src\//m, 'nothing of the server is bundled');
  });

  it('fail the UI type-check where the server drops a field the UI reads (the check can fail)', () => {
    assert.deepEqual(uiDiagnostics(), []);
    const dropped = uiDiagnostics((text) => text.replace(/^\s+limits: z\.object\(.*\n/m, ''));
    assert.ok(
      dropped.some((d) => d.startsWith('ui/src/pages/run.ts') && /limits/.test(d)),
      `expected an error in ui/src/pages/run.ts, got: ${dropped.join('; ')}`,
    );
  });
});
