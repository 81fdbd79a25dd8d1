import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { npmPkgDeleteKeys, readStages, runCommands, stageByName, stageChain } from './dockerfile.ts';
import {
  deleteManifestKeys,
  installedLocations,
  installedNames,
  parentLocation,
  platformFieldAllows,
  resolveLocation,
  type Lockfile,
  type Manifest,
  type Platform,
} from './lockfile-closure.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as Lockfile;
const stages = readStages(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
// The images are Debian/Ubuntu (glibc); server-gpu is amd64 only, server and trainer also build on arm64.
const PLATFORMS: Platform[] = [
  { os: 'linux', cpu: 'x64', libc: 'glibc' },
  { os: 'linux', cpu: 'arm64', libc: 'glibc' },
];
const isTfjs = (name: string) => name.startsWith('@tensorflow/') || /(^|[/-])tfjs($|-)/.test(name);

/** The dependency set a *-deps stage leaves: what `npm pkg delete` keeps, after `npm prune --omit=dev`. */
function stageDependencySet(stageName: string, platform: Platform): string[] {
  const stage = stageByName(stages, stageName);
  const commands = runCommands(stage);
  const prune = commands.find((c) => c.startsWith('npm prune'));
  assert.ok(prune, `${stageName} runs npm prune`);
  assert.match(prune, /--omit=dev\b/, `${stageName}: npm prune --omit=dev`);
  assert.ok(
    stageChain(stages, stageName).some((s) => runCommands(s).some((c) => /^npm ci(\s|$)/.test(c))),
    `${stageName} prunes a tree installed by npm ci`,
  );
  const keys = npmPkgDeleteKeys(stage);
  return installedNames(deleteManifestKeys(manifest, keys), lock, { omitDev: true, platform });
}

describe('lockfile closure', () => {
  const tinyLock: Lockfile = {
    lockfileVersion: 3,
    packages: {
      '': {},
      'node_modules/a': { dependencies: { b: '^1', c: '^1' } },
      'node_modules/a/node_modules/b': { version: '2.0.0' },
      'node_modules/b': { version: '1.0.0', dependencies: { d: '^1' } },
      'node_modules/c': {
        optionalDependencies: { 'c-linux': '1', 'c-darwin': '1' },
        peerDependencies: { p: '*', q: '*' },
        peerDependenciesMeta: { q: { optional: true } },
      },
      'node_modules/c-linux': { os: ['linux'] },
      'node_modules/c-darwin': { os: ['darwin'] },
      'node_modules/d': {},
      'node_modules/p': {},
      'node_modules/q': {},
      'node_modules/@s/dev': {},
    },
  };
  const linux: Platform = { os: 'linux', cpu: 'x64', libc: 'glibc' };

  test('resolves like Node: nearest node_modules first', () => {
    assert.equal(resolveLocation(tinyLock.packages, 'node_modules/a', 'b'), 'node_modules/a/node_modules/b');
    assert.equal(resolveLocation(tinyLock.packages, 'node_modules/c', 'b'), 'node_modules/b');
    assert.equal(resolveLocation(tinyLock.packages, '', 'nope'), null);
    assert.equal(parentLocation('node_modules/a/node_modules/@s/b'), 'node_modules/a');
    assert.equal(parentLocation('node_modules/a'), '');
    assert.equal(parentLocation(''), null);
  });

  test('follows dependencies, platform-fitting optionals and required peers', () => {
    const set = installedLocations({ dependencies: { a: '1' }, devDependencies: { '@s/dev': '1' } }, tinyLock, {
      omitDev: true,
      platform: linux,
    });
    assert.deepEqual([...set].sort(), [
      'node_modules/a',
      'node_modules/a/node_modules/b',
      'node_modules/c',
      'node_modules/c-linux',
      'node_modules/p',
    ]);
    const withDev = installedLocations({ dependencies: { a: '1' }, devDependencies: { '@s/dev': '1' } }, tinyLock, {
      omitDev: false,
      platform: linux,
    });
    assert.ok(withDev.has('node_modules/@s/dev'));
  });

  test('applies npm platform fields and pkg delete keys', () => {
    assert.equal(platformFieldAllows(['linux'], 'darwin'), false);
    assert.equal(platformFieldAllows(['!win32'], 'linux'), true);
    assert.equal(platformFieldAllows(['!win32'], 'win32'), false);
    assert.equal(platformFieldAllows(undefined, 'linux'), true);
    const pruned = deleteManifestKeys({ dependencies: { '@x/y': '1', z: '1' }, devDependencies: { t: '1' } }, [
      'dependencies.@x/y',
      'devDependencies',
    ]);
    assert.deepEqual(pruned, { dependencies: { z: '1' } });
    assert.throws(() => deleteManifestKeys({ dependencies: {} }, ['dependencies.missing']), /no such key/);
  });

  test('a required dependency missing from the lockfile is an error', () => {
    assert.throws(() => installedLocations({ dependencies: { ghost: '1' } }, tinyLock, { omitDev: true, platform: linux }), /ghost/);
  });
});

for (const platform of PLATFORMS) {
  describe(`runtime dependency sets (${platform.os}/${platform.cpu})`, () => {
    const server = stageDependencySet('server-deps', platform);
    const trainer = stageDependencySet('trainer-deps', platform);

    test('the server set contains no tfjs package', () => {
      assert.deepEqual(server.filter(isTfjs), []);
    });

    test('the server set still has what `bnserve serve` and `migrate` load', () => {
      for (const name of [
        'fastify',
        'onnxruntime-node',
        '@prisma/client',
        '@prisma/adapter-pg',
        '@prisma/schema-engine-wasm',
        'zod',
        'commander',
      ]) {
        assert.ok(server.includes(name), `server image lacks ${name}`);
      }
    });

    test('neither runtime set carries the dev tools (prisma CLI, typescript, ...)', () => {
      // @types/* are left out of this check: libraries such as @prisma/adapter-pg depend on them. So is
      // a dev dependency that a runtime library needs itself (yaml, which @fastify/swagger loads).
      const neededByLibraries = new Set(Object.keys(lock.packages).flatMap((key) => Object.keys(lock.packages[key].dependencies ?? {})));
      const tools = Object.keys(manifest.devDependencies ?? {}).filter(
        (name) => !name.startsWith('@types/') && !neededByLibraries.has(name),
      );
      assert.ok(tools.includes('prisma') && tools.includes('typescript') && tools.includes('tsx'), tools.join(', '));
      for (const set of [server, trainer])
        assert.deepEqual(
          set.filter((n) => tools.includes(n)),
          [],
        );
    });

    test('neither runtime set has a TypeScript loader or compiler (tsx, esbuild, typescript)', () => {
      // The images run the compiled dist/: tsx and esbuild (and esbuild's platform binaries) are dev-only.
      const isTypeScriptTool = (name: string) => ['tsx', 'esbuild', 'typescript'].includes(name) || name.startsWith('@esbuild/');
      for (const set of [server, trainer]) assert.deepEqual(set.filter(isTypeScriptTool), []);
      const everything = installedNames(manifest, lock, { omitDev: false, platform });
      assert.ok(everything.includes('tsx') && everything.includes('esbuild'), 'the development install has tsx and esbuild');
    });

    test('the trainer set keeps tfjs, its wasm backend and the optional tfjs-node', () => {
      for (const name of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-node']) {
        assert.ok(trainer.includes(name), `trainer image lacks ${name}`);
      }
    });

    test('the server set is the trainer set minus tfjs and what only tfjs needs', () => {
      assert.deepEqual(
        server.filter((n) => !trainer.includes(n)),
        [],
      );
      assert.ok(server.length < trainer.length);
    });
  });
}

test('the server-deps stage deletes the tfjs entries and prunes with npm', () => {
  const keys = npmPkgDeleteKeys(stageByName(stages, 'server-deps'));
  const tfjsEntries = ['dependencies', 'optionalDependencies']
    .flatMap((field) => Object.keys((manifest[field] as Record<string, string> | undefined) ?? {}).map((name) => `${field}.${name}`))
    .filter((key) => isTfjs(key.slice(key.indexOf('.') + 1)));
  assert.ok(tfjsEntries.length > 0, 'package.json names tfjs packages');
  for (const entry of tfjsEntries) assert.ok(keys.includes(entry), `server-deps keeps ${entry}`);
});
