import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registryEnv, runCli } from './run-cli.ts';
import { tempDir } from '../train/helpers.ts';
import { CHECKPOINT_FOLDER_FILES, MARKER_FILE } from '../../src/checkpoint/index.ts';

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

test('train --out refuses a folder holding the --config file, even named like a checkpoint’s, and keeps both files', async (t) => {
  const dir = await tempDir(t);
  const out = path.join(dir, 'd');
  await mkdir(out);
  const configFile = path.join(out, 'config.json');
  await writeFile(configFile, JSON.stringify(config));
  await writeFile(path.join(out, 'metrics.json'), '{"mine": true}\n');
  const result = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json'], registryEnv(dir));
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /checkpoint folder .*d holds the --config file .*d\/config\.json, which writing the checkpoint would replace/,
  );
  assert.deepEqual((await readdir(out)).sort(), ['config.json', 'metrics.json']);
  assert.equal(await readFile(configFile, 'utf8'), JSON.stringify(config));
  assert.equal(await readFile(path.join(out, 'metrics.json'), 'utf8'), '{"mine": true}\n');
  assert.equal(existsSync(path.join(dir, 'registry.db')), false, 'no run registered');
});

test('train --out refuses the user’s config.json and metrics.json: names alike are no evidence of a checkpoint', async (t) => {
  const dir = await tempDir(t);
  const configFile = path.join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(config));
  const out = path.join(dir, 'd');
  await mkdir(out);
  await writeFile(path.join(out, 'config.json'), JSON.stringify(config));
  await writeFile(path.join(out, 'metrics.json'), '{"runId": "my own"}\n');
  const result = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json'], registryEnv(dir));
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /already holds files that are not a bnserve checkpoint/);
  assert.deepEqual((await readdir(out)).sort(), ['config.json', 'metrics.json']);
  assert.equal(await readFile(path.join(out, 'metrics.json'), 'utf8'), '{"runId": "my own"}\n');
});

test('train --out replaces an earlier checkpoint in place, one written before the marker too', async (t) => {
  const dir = await tempDir(t);
  const configFile = path.join(dir, 'config.json');
  await writeFile(configFile, JSON.stringify(config));
  const out = path.join(dir, 'ckpt');
  const env = registryEnv(dir);
  const first = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  const second = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json', '--seed', '5'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual((await readdir(out)).sort(), [...CHECKPOINT_FOLDER_FILES].sort());
  const metrics = JSON.parse(await readFile(path.join(out, 'metrics.json'), 'utf8'));
  assert.equal(metrics.runId, JSON.parse(second.stdout).runId);
  const marker = JSON.parse(await readFile(path.join(out, MARKER_FILE), 'utf8'));
  assert.deepEqual(marker, { format: 'bnserve-checkpoint', formatVersion: 1, runId: metrics.runId });

  await rm(path.join(out, MARKER_FILE)); // as bnserve wrote checkpoints before the marker
  const third = await runCli(['train', '--config', configFile, '--out', out, '--no-export', '--json', '--seed', '6'], env);
  assert.equal(third.code, 0, third.stderr);
  assert.equal(JSON.parse(await readFile(path.join(out, MARKER_FILE), 'utf8')).runId, JSON.parse(third.stdout).runId);
  assert.deepEqual(
    (await readdir(dir)).filter((f) => f.startsWith('ckpt')),
    ['ckpt'],
    'no temp or old folders left',
  );
});
