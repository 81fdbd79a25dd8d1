import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registryEnv, runCli } from './run-cli.ts';
import { tempDir } from '../train/helpers.ts';
import { CHECKPOINT_FILES } from '../../src/checkpoint/index.ts';

const config = {
  name: 'outdir',
  data: { kind: 'iris' },
  layers: [{ type: 'dense', units: 4 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }],
  epochs: 2,
  batchSize: 16,
};

test('train --out refuses a folder holding the user’s files before training, and deletes nothing', async (t) => {
  const dir = await tempDir(t);
  const configFile = path.join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(config));
  const out = path.join(dir, 'd');
  await mkdir(out);
  await writeFile(path.join(out, 'notes.txt'), 'precious\n');
  const result = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json'], registryEnv(dir));
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /checkpoint folder .*d already holds files that are not a bnserve checkpoint; bnserve never deletes them/);
  assert.doesNotMatch(result.stderr, /training outdir/, 'refused before training started');
  assert.deepEqual(await readdir(out), ['notes.txt']);
  assert.equal(await readFile(path.join(out, 'notes.txt'), 'utf8'), 'precious\n');
  assert.equal(existsSync(path.join(dir, 'registry.db')), false, 'no run registered');
});

test('train --out replaces an earlier checkpoint in place', async (t) => {
  const dir = await tempDir(t);
  const configFile = path.join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(config));
  const out = path.join(dir, 'ckpt');
  const env = registryEnv(dir);
  const first = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  const second = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json', '--seed', '5'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual((await readdir(out)).sort(), [...CHECKPOINT_FILES].sort());
  const metrics = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8'));
  assert.equal(metrics.runId, JSON.parse(second.stdout).runId);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('ckpt')),
    ['ckpt'],
    'no temp or old folders left',
  );
});
