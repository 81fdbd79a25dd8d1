import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { CHECKPOINT_FOLDER_FILES, readCheckpoint, readMetrics, writeCheckpoint } from '../../src/checkpoint/index.ts';
import type { Preprocessing } from '../../src/checkpoint/index.ts';
import { tempDir } from '../train/helpers.ts';
import { layers, preprocessing, rawModelJson, rawWeightBytes, sequential } from './raw-files.ts';

test('writeCheckpoint (no tfjs) writes the five files (and the marker) in the format the reader reads back', async (t) => {
  const dir = path.join(await tempDir(t), 'ckpt');
  const modelJson = { format: 'layers-model', ...rawModelJson(sequential({ layers })) };
  const bytes = rawWeightBytes();
  const metrics = { runId: 'run-1', bnGuard: { stale: false, residual: 0.01, steps: 40 } };
  await writeCheckpoint(dir, { modelJson, weights: bytes, preprocessing: preprocessing as Preprocessing, config: { name: 'x' }, metrics });

  assert.deepEqual((await readdir(dir)).sort(), [...CHECKPOINT_FOLDER_FILES].sort());
  // The bytes of the format: model.json compact, the other JSON files indented by two spaces.
  assert.equal(await readFile(path.join(dir, 'model.json'), 'utf8'), JSON.stringify(modelJson));
  assert.equal(await readFile(path.join(dir, 'preprocessing.json'), 'utf8'), JSON.stringify(preprocessing, null, 2));
  assert.equal(await readFile(path.join(dir, 'metrics.json'), 'utf8'), JSON.stringify(metrics, null, 2));
  assert.deepEqual(new Uint8Array(await readFile(path.join(dir, 'weights.bin'))), bytes);

  const checkpoint = await readCheckpoint(dir);
  assert.deepEqual(
    checkpoint.layers.map((l) => l.name),
    ['dense_0', 'batch_normalization_1', 'dropout_2', 'output'],
  );
  assert.deepEqual([checkpoint.runId, checkpoint.bnGuard], ['run-1', metrics.bnGuard]);
  assert.deepEqual((await readMetrics(dir)).runId, 'run-1');
});
