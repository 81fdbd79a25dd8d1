// Which dependency install scripts npm runs: package.json's allowScripts, not an .npmrc key npm warns about.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const manifest = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
const lock = JSON.parse(readFileSync(path.join(ROOT, 'package-lock.json'), 'utf8'));
const allow: Record<string, boolean> = manifest.allowScripts ?? {};

const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
  .filter(([key, entry]) => key !== '' && entry.hasInstallScript)
  .map(([key]) => key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length));

test('every locked package with an install script is approved or denied by name', () => {
  assert.ok(withScripts.length > 0);
  for (const name of withScripts) assert.equal(typeof allow[name], 'boolean', `allowScripts has no entry for ${name}`);
});

test('the native builds the project needs are approved', () => {
  for (const name of ['better-sqlite3', 'esbuild', 'prisma', '@prisma/engines', '@tensorflow/tfjs-node'])
    assert.equal(allow[name], true, name);
});

test("onnxruntime-node's install script (a CUDA download that fails offline) is denied, without an .npmrc key", () => {
  assert.equal(allow['onnxruntime-node'], false);
  const npmrc = path.join(ROOT, '.npmrc');
  if (existsSync(npmrc)) assert.doesNotMatch(readFileSync(npmrc, 'utf8'), /onnxruntime-node-install/);
});
