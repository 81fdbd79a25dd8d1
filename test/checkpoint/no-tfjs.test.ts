import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FORBID_TFJS = path.join(import.meta.dirname, 'forbid-tfjs.mjs');

/** Imports `module` in a fresh node whose resolver refuses @tensorflow packages. */
function importWithoutTfjs(module: string) {
  const code = `await import(${JSON.stringify(path.join(ROOT, module))});`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--import', FORBID_TFJS, '--input-type=module', '-e', code], {
    cwd: ROOT,
    encoding: 'utf8',
  });
}

test('src/checkpoint loads without tfjs (export, report and register read checkpoints through it)', () => {
  const result = importWithoutTfjs('src/checkpoint/index.ts');
  assert.equal(result.status, 0, result.stderr);
});

test('the check can fail: the trainer side of the format does load tfjs', () => {
  const result = importWithoutTfjs('src/train/tfjs-checkpoint.ts');
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /tfjs reached: @tensorflow\/tfjs from .*src\/train\/tfjs-checkpoint\.ts/);
});
