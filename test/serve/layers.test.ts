// The folders of src/serve and which way they may import (each folder's README.md says the same):
//   dataplane/  the model manager, scheduler, runners, tensors, the protocol-neutral request path;
//               imports no transport (http/, grpc/), not dashboard/, no server package (fastify, grpc-js)
//   http/       the Fastify app, its plugins and routes; never grpc/ (only http/app.ts mounts dashboard/)
//   grpc/       the gRPC listener; never http/ or dashboard/, no HTTP framework (fastify)
//   dashboard/  the dashboard's API and views; never grpc/
//   top level   index.ts (the public API, the one module that wires the transports together) and
//               the modules every folder shares (config.ts, cluster-metrics.ts); nothing imports index.ts
// Every import counts, type-only ones and dynamic import() too (read from the source text).
// Run alone to see the structure checked: node --import tsx --test test/serve/layers.test.ts
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SERVE = path.join(ROOT, 'src/serve');

type Layer = 'dataplane' | 'http' | 'grpc' | 'dashboard' | 'top';
const FOLDERS: Layer[] = ['dataplane', 'http', 'grpc', 'dashboard'];

/** Folders each layer must not import from. */
const NOT_FROM: Record<Layer, Layer[]> = {
  dataplane: ['http', 'grpc', 'dashboard'],
  http: ['grpc'],
  grpc: ['http', 'dashboard'],
  dashboard: ['grpc'],
  top: ['http', 'grpc', 'dashboard'],
};

/** Packages each layer must not import: the data plane knows no server framework. */
const PACKAGES_NOT_IN: Partial<Record<Layer, RegExp>> = {
  dataplane: /^(fastify|fastify-.*|@fastify\/.*|@grpc\/.*)$/,
  grpc: /^(fastify|fastify-.*|@fastify\/.*)$/,
};

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? tsFilesUnder(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

function layerOf(serveDir: string, file: string): Layer | null {
  const rel = path.relative(serveDir, file);
  if (rel.startsWith('..')) return null;
  const first = rel.split(path.sep)[0];
  return (FOLDERS as string[]).includes(first) ? (first as Layer) : 'top';
}

/** Every wrong-way import under serveDir, as "from → to (rule)". */
export function wrongWayImports(serveDir: string): string[] {
  const problems: string[] = [];
  const show = (f: string) => path.relative(serveDir, f);
  const index = path.join(serveDir, 'index.ts');
  for (const file of tsFilesUnder(serveDir)) {
    const from = layerOf(serveDir, file)!;
    // index.ts wires the transports together: the composition root, free to import any folder.
    const composition = file === index;
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName: spec } of importedFiles) {
      if (!spec.startsWith('.')) {
        if (PACKAGES_NOT_IN[from]?.test(spec))
          problems.push(`${show(file)} → ${spec} (${from}/ imports no ${from === 'grpc' ? 'HTTP' : 'server'} framework)`);
        continue;
      }
      const target = path.resolve(path.dirname(file), spec);
      if (target === index) {
        problems.push(`${show(file)} → index.ts (nothing in src/serve imports the public API)`);
        continue;
      }
      const to = layerOf(serveDir, target);
      if (to === null || to === from || composition) continue;
      if (NOT_FROM[from].includes(to))
        problems.push(`${show(file)} → ${show(target)} (${from === 'top' ? 'the top level' : `${from}/`} imports nothing from ${to}/)`);
      else if (from === 'http' && to === 'dashboard' && file !== path.join(serveDir, 'http', 'app.ts')) {
        problems.push(`${show(file)} → ${show(target)} (only http/app.ts mounts dashboard/)`);
      }
    }
  }
  return problems;
}

describe('src/serve layers', () => {
  it('imports only the allowed way between dataplane/, http/, grpc/, dashboard/ and the top level', () => {
    assert.deepEqual(wrongWayImports(SERVE), []);
  });

  it('keeps its top level small and each folder says what it owns', () => {
    const top = readdirSync(SERVE).filter((name) => name.endsWith('.ts'));
    assert.ok(top.length <= 12, `src/serve has ${top.length} files at its top level: ${top.join(', ')}`);
    for (const folder of ['.', ...FOLDERS]) {
      assert.ok(existsSync(path.join(SERVE, folder, 'README.md')), `src/serve/${folder}/README.md`);
    }
  });

  it('finds a wrong-way import, type-only or dynamic (the check can fail)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'bnserve-layers-'));
    try {
      for (const folder of FOLDERS) mkdirSync(path.join(dir, folder));
      writeFileSync(path.join(dir, 'index.ts'), "export { app } from './http/app.ts';\n");
      writeFileSync(path.join(dir, 'http', 'app.ts'), "import './routes.ts';\nimport '../dashboard/api.ts';\nexport const app = 1;\n");
      writeFileSync(path.join(dir, 'http', 'routes.ts'), "import type { Plane } from '../dataplane/plane.ts';\nexport type R = Plane;\n");
      writeFileSync(path.join(dir, 'dashboard', 'api.ts'), "import '../http/routes.ts';\n");
      writeFileSync(
        path.join(dir, 'dataplane', 'plane.ts'),
        "import type { FastifyInstance } from 'fastify';\nimport type { R } from '../http/routes.ts';\nexport type Plane = R | FastifyInstance;\n",
      );
      writeFileSync(path.join(dir, 'grpc', 'service.ts'), "export const load = () => import('../http/routes.ts');\n");
      writeFileSync(
        path.join(dir, 'grpc', 'other.ts'),
        "import '../dashboard/api.ts';\nimport '../index.ts';\nimport type { FastifyInstance } from 'fastify';\nexport type F = FastifyInstance;\n",
      );
      assert.deepEqual(wrongWayImports(dir).sort(), [
        'dataplane/plane.ts → fastify (dataplane/ imports no server framework)',
        'dataplane/plane.ts → http/routes.ts (dataplane/ imports nothing from http/)',
        'grpc/other.ts → dashboard/api.ts (grpc/ imports nothing from dashboard/)',
        'grpc/other.ts → fastify (grpc/ imports no HTTP framework)',
        'grpc/other.ts → index.ts (nothing in src/serve imports the public API)',
        'grpc/service.ts → http/routes.ts (grpc/ imports nothing from http/)',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
