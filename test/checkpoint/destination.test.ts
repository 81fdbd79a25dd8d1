// A checkpoint folder is replaced only on positive evidence that bnserve wrote it: file names prove nothing.
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  assertCheckpointDestination,
  CHECKPOINT_FOLDER_FILES,
  MARKER_FILE,
  readCheckpoint,
  readMarker,
  writeCheckpoint,
} from '../../src/checkpoint/index.ts';
import type { CheckpointContents, Preprocessing } from '../../src/checkpoint/index.ts';
import { ConfigError } from '../../src/lib/errors.ts';
import { parseTrainConfig } from '../../src/train/config.ts';
import { tempDir } from '../train/helpers.ts';
import { layers, preprocessing, rawModelJson, rawWeightBytes, sequential } from './raw-files.ts';

const contents = (runId: string): CheckpointContents => ({
  modelJson: { format: 'layers-model', ...rawModelJson(sequential({ layers })) },
  weights: rawWeightBytes(),
  preprocessing: preprocessing as Preprocessing,
  config: parseTrainConfig({ name: 'x', data: { kind: 'iris' }, layers: [] }),
  metrics: { runId },
});
const notACheckpoint = (e: unknown) => e instanceof ConfigError && /already holds files that are not a bnserve checkpoint/.test(e.message);

test('files named like a checkpoint’s are not one: the user’s config.json and metrics.json are refused and kept', async (t) => {
  const dir = path.join(await tempDir(t), 'out');
  await mkdir(dir);
  const userConfig = JSON.stringify({ name: 'mine', data: { kind: 'iris' }, layers: [] });
  await writeFile(path.join(dir, 'config.json'), userConfig);
  await writeFile(path.join(dir, 'metrics.json'), '{"runId": "my own numbering"}');
  await assert.rejects(assertCheckpointDestination(dir), notACheckpoint);
  await assert.rejects(writeCheckpoint(dir, contents('run-1')), notACheckpoint);
  assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'metrics.json']);
  assert.equal(await readFile(path.join(dir, 'config.json'), 'utf8'), userConfig);
  assert.deepEqual(await readdir(path.dirname(dir)), ['out'], 'no temp folder left');
});

test('the marker is written in the same rename as the other files, and a marked checkpoint is replaced', async (t) => {
  const dir = path.join(await tempDir(t), 'ckpt');
  await writeCheckpoint(dir, contents('run-1'));
  assert.deepEqual((await readdir(dir)).sort(), [...CHECKPOINT_FOLDER_FILES].sort());
  assert.deepEqual(await readMarker(dir), { format: 'bnserve-checkpoint', formatVersion: 1, runId: 'run-1' });
  await writeCheckpoint(dir, contents('run-2'));
  assert.equal((await readMarker(dir)).runId, 'run-2');
  assert.deepEqual(await readdir(path.dirname(dir)), ['ckpt'], 'no temp or old folder left');
});

test('a marker naming another run than metrics.json is no evidence (metrics.json was replaced by the user’s)', async (t) => {
  const dir = path.join(await tempDir(t), 'ckpt');
  await writeCheckpoint(dir, contents('run-1'));
  await writeFile(path.join(dir, 'metrics.json'), '{"note": "my own metrics"}');
  await assert.rejects(assertCheckpointDestination(dir), notACheckpoint);
  assert.equal(await readFile(path.join(dir, 'metrics.json'), 'utf8'), '{"note": "my own metrics"}');
});

test('a checkpoint from before the marker is read as before, and replaced only when all five files parse', async (t) => {
  const dir = path.join(await tempDir(t), 'old');
  await writeCheckpoint(dir, contents('run-1'));
  await rm(path.join(dir, MARKER_FILE));
  assert.deepEqual((await readCheckpoint(dir)).runId, 'run-1');
  await assertCheckpointDestination(dir);
  await writeCheckpoint(dir, contents('run-2'));
  assert.equal((await readMarker(dir)).runId, 'run-2');

  await rm(path.join(dir, MARKER_FILE));
  await writeFile(path.join(dir, 'weights.bin'), 'not the weights the manifest describes');
  await assert.rejects(assertCheckpointDestination(dir), notACheckpoint);
});

test('the checkpoint folder never is or holds a file to keep (the --config file), by any path', async (t) => {
  const root = await tempDir(t);
  const dir = path.join(root, 'ckpt');
  await writeCheckpoint(dir, contents('run-1'));
  const configFile = path.join(dir, 'config.json');
  const keeps = (file: string) => ({ 'the --config file': file });
  const holds = (e: unknown) =>
    e instanceof ConfigError &&
    /ckpt holds the --config file .*ckpt\/config\.json\)?, which writing the checkpoint would replace/.test(e.message);
  // Even a real checkpoint: retraining from its own config.json into it would replace that config.
  await assert.rejects(assertCheckpointDestination(dir, keeps(configFile)), holds);
  await symlink(configFile, path.join(root, 'link.json'));
  await assert.rejects(assertCheckpointDestination(dir, keeps(path.join(root, 'link.json'))), holds);
  await assert.rejects(
    assertCheckpointDestination(configFile, keeps(configFile)),
    (e: unknown) => e instanceof ConfigError && /config\.json is the --config file/.test(e.message),
  );
  await assertCheckpointDestination(path.join(root, 'new', 'ckpt'), keeps(configFile));
});
