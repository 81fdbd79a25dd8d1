// bin/bnserve.js runs the compiled dist/cli.js and refuses, in a checkout with sources, a build that is
// missing or older than them. The modules that find files next to themselves (Iris data, Prisma
// migrations, package.json) find them from dist/ as they do from src/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { ROOT } from './run-cli.ts';

const work = mkdtempSync(path.join(os.tmpdir(), 'bnserve-bin-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** A project folder with the real bin/bnserve.js, a stand-in dist/cli.js and, optionally, sources. */
function project(name: string, layout: { dist: boolean; sources: boolean }): string {
  const dir = path.join(work, name);
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  copyFileSync(path.join(ROOT, 'bin', 'bnserve.js'), path.join(dir, 'bin', 'bnserve.js'));
  writeFileSync(path.join(dir, 'package.json'), '{"type": "module"}\n');
  if (layout.dist) {
    mkdirSync(path.join(dir, 'dist'));
    writeFileSync(path.join(dir, 'dist', 'cli.js'), "console.log('dist ran', process.argv.slice(2).join(' '));\n");
  }
  if (layout.sources) {
    mkdirSync(path.join(dir, 'src', 'serve'), { recursive: true });
    writeFileSync(path.join(dir, 'src', 'cli.ts'), '');
    writeFileSync(path.join(dir, 'src', 'serve', 'app.ts'), '');
  }
  return dir;
}

function setTime(file: string, secondsAgo: number): void {
  const when = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(file, when, when);
}

function runBin(dir: string) {
  return spawnSync(process.execPath, [path.join(dir, 'bin', 'bnserve.js'), '--help'], { encoding: 'utf8' });
}

describe('bin/bnserve.js', () => {
  test('runs dist/cli.js with the arguments when the build is newer than every source', () => {
    const dir = project('fresh', { dist: true, sources: true });
    setTime(path.join(dir, 'src', 'cli.ts'), 60);
    setTime(path.join(dir, 'src', 'serve', 'app.ts'), 60);
    const result = runBin(dir);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'dist ran --help');
  });

  test('refuses a build older than a source, naming the file and `npm run build`', () => {
    const dir = project('stale', { dist: true, sources: true });
    setTime(path.join(dir, 'dist', 'cli.js'), 60);
    setTime(path.join(dir, 'src', 'cli.ts'), 120);
    const result = runBin(dir);
    assert.equal(result.status, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /dist\/ is older than the sources \(src\/serve\/app\.ts changed/);
    assert.match(result.stderr, /npm run build/);
  });

  test('refuses a checkout that was never built', () => {
    const result = runBin(project('unbuilt', { dist: false, sources: true }));
    assert.equal(result.status, 1);
    assert.match(result.stderr, /dist\/cli\.js is missing.*npm run build/);
  });

  test('without sources (the images) runs dist/ whatever its age', () => {
    const dir = project('image', { dist: true, sources: false });
    setTime(path.join(dir, 'dist', 'cli.js'), 10 * 365 * 86_400);
    const result = runBin(dir);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'dist ran --help');
  });
});

describe('the compiled modules find their files from dist/', () => {
  const compiled = (file: string) => import(pathToFileURL(path.join(ROOT, 'dist', file)).href);

  test('dist/ is built (npm test runs `npm run build` first)', () => {
    assert.ok(existsSync(path.join(ROOT, 'dist', 'cli.js')), 'run `npm run build`');
  });

  test('Iris data, the Prisma folder and the package version', async () => {
    const { IRIS_CSV } = await compiled('train/data.js');
    assert.equal(IRIS_CSV, path.join(ROOT, 'examples', 'data', 'iris.csv'));
    const { PRISMA_DIR } = await compiled('registry/migrations-folder.js');
    assert.equal(path.resolve(PRISMA_DIR), path.join(ROOT, 'prisma'));
    assert.ok(existsSync(path.join(PRISMA_DIR, 'migrations')));
  });
});
