import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../train/helpers.ts';
import { runCli } from './run-cli.ts';

// An unreadable checkpoint is a refused export (exit 3) with the file named, never an unexpected error.
test('export and report of a folder that is no checkpoint exit 3 naming the file', async (t) => {
  const dir = await tempDir(t);
  const exported = await runCli(['export', '--checkpoint', dir, '--out', path.join(dir, 'm.onnx'), '--json']);
  assert.equal(exported.code, 3, exported.stderr);
  assert.match(JSON.parse(exported.stdout).error, /cannot read .*model\.json: ENOENT/);

  await writeFile(path.join(dir, 'metrics.json'), JSON.stringify({ runId: 'r' }));
  const reported = await runCli(['report', '--checkpoint', dir, '--out', path.join(dir, 'r.svg')]);
  assert.equal(reported.code, 3, reported.stderr);
  assert.match(reported.stderr, /metrics\.json has no epochs to draw/);
  assert.doesNotMatch(reported.stderr, /unexpected error|\n\s+at /);
});
