import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hostname } from 'node:os';
import { ConfigError, parseTrainConfig } from '../../src/train/config.ts';
import { train, predictFlat } from '../../src/train/trainer.ts';
import {
  assertCheckpointDestination,
  CHECKPOINT_FOLDER_FILES,
  readPreprocessing,
  sweepStaleTempFolders,
} from '../../src/checkpoint/index.ts';
import { saveCheckpoint, loadCheckpointModel } from '../../src/train/tfjs-checkpoint.ts';
import { tempDir } from './helpers.ts';

const config = parseTrainConfig({
  data: { kind: 'synthetic', samples: 150, features: 6, classes: 3, scale: 4, offset: 10 },
  layers: [
    { type: 'dense', units: 12 },
    { type: 'batchNormalization', momentum: 0.9 },
    { type: 'activation', activation: 'relu' },
    { type: 'dense', units: 8, useBias: false },
    { type: 'batchNormalization', epsilon: 0.01 },
    { type: 'activation', activation: 'tanh' },
  ],
  epochs: 4,
  batchSize: 16,
  backend: 'cpu',
});

test('save → load round trip gives bit-identical predictions and keeps the moving statistics', async (t) => {
  const dir = path.join(await tempDir(t), 'ckpt');
  const result = await train(config);
  await saveCheckpoint(dir, { model: result.model, preprocessing: result.preprocessing, config, metrics: { bnSteps: result.bnSteps } });
  assert.deepEqual((await readdir(dir)).sort(), [...CHECKPOINT_FOLDER_FILES].sort());

  const loaded = await loadCheckpointModel(dir);
  const rows = new Float32Array(64 * 6).map((_, i) => Math.sin(i) * 3);
  assert.deepEqual(Array.from(predictFlat(loaded, rows, [6])), Array.from(predictFlat(result.model, rows, [6])));

  // The moving statistics are in weights.bin at the offsets the manifest gives, under the layer's name.
  const modelJson = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
  const weights = await readFile(path.join(dir, 'weights.bin'));
  const specs: { name: string; shape: number[] }[] = modelJson.weightsManifest[0].weights;
  let offset = 0;
  const stored = new Map<string, Float32Array>();
  for (const spec of specs) {
    const count = spec.shape.reduce((a, b) => a * b, 1);
    stored.set(spec.name, new Float32Array(weights.buffer.slice(weights.byteOffset + offset, weights.byteOffset + offset + count * 4)));
    offset += count * 4;
  }
  assert.equal(offset, weights.byteLength);
  for (const layer of ['batch_normalization_1', 'batch_normalization_4']) {
    const [, , movingMean, movingVariance] = result.model.getLayer(layer).getWeights();
    assert.deepEqual(Array.from(stored.get(`${layer}/moving_mean`)!), Array.from(movingMean.dataSync()));
    assert.deepEqual(Array.from(stored.get(`${layer}/moving_variance`)!), Array.from(movingVariance.dataSync()));
    assert.ok(
      movingMean.dataSync().some((v) => Math.abs(v) > 1e-3),
      'moving mean moved away from 0',
    );
  }

  const preprocessing = await readPreprocessing(dir);
  assert.equal(preprocessing.mean.length, 6);
  assert.ok(
    preprocessing.mean.every((m) => m > 5),
    'raw offset 10 shows in the training mean',
  );
  loaded.dispose();
  result.model.dispose();
});

test('a failed save leaves no checkpoint behind', async (t) => {
  const dir = path.join(await tempDir(t), 'ckpt');
  const result = await train({ ...config, epochs: 1 });
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  await assert.rejects(
    saveCheckpoint(dir, { model: result.model, preprocessing: result.preprocessing, config, metrics: circular }),
    /circular/i,
  );
  assert.deepEqual(await readdir(path.dirname(dir)), []);
  result.model.dispose();
});

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

test('a folder holding anything but a checkpoint is refused, and nothing in it is touched', async (t) => {
  const dir = path.join(await tempDir(t), 'd');
  await mkdir(dir);
  await writeFile(path.join(dir, 'notes.txt'), 'precious\n');
  const result = await train({ ...config, epochs: 1 });
  t.after(() => result.model.dispose());
  const parts = { model: result.model, preprocessing: result.preprocessing, config, metrics: {} };
  await assert.rejects(saveCheckpoint(dir, parts), (e: unknown) => e instanceof ConfigError && /not a bnserve checkpoint/.test(e.message));
  await assert.rejects(assertCheckpointDestination(dir), ConfigError);
  assert.deepEqual(await readdir(dir), ['notes.txt']);
  assert.equal(await readFile(path.join(dir, 'notes.txt'), 'utf8'), 'precious\n');
  assert.deepEqual(await readdir(path.dirname(dir)), ['d'], 'no temp folder left beside it');

  // An earlier checkpoint is replaced; an empty folder is used.
  const earlier = path.join(path.dirname(dir), 'earlier');
  await saveCheckpoint(earlier, parts);
  await writeFile(path.join(earlier, 'metrics.json'), '{"old": true}');
  await saveCheckpoint(earlier, { ...parts, metrics: { new: true } });
  assert.deepEqual(JSON.parse(await readFile(path.join(earlier, 'metrics.json'), 'utf8')), { new: true });
  const empty = path.join(path.dirname(dir), 'empty');
  await mkdir(empty);
  await saveCheckpoint(empty, parts);
  assert.deepEqual((await readdir(empty)).sort(), [...CHECKPOINT_FOLDER_FILES].sort());
  assert.deepEqual((await readdir(path.dirname(dir))).sort(), ['d', 'earlier', 'empty']);
});

test('temp folders of trainers killed mid-save are swept at the next save; live or foreign ones are kept', async (t) => {
  const root = await tempDir(t);
  const dead = await deadPid();
  const host = hostname().replace(/[^A-Za-z0-9.]/g, '_');
  const stale = path.join(root, `ckpt.tmp-${host}-${dead}-00000000000a`);
  const staleOther = path.join(root, `other-run.tmp-${host}-${dead}-00000000000b`);
  const live = path.join(root, `ckpt.tmp-${host}-${process.ppid}-00000000000c`); // our parent is alive
  const foreign = path.join(root, `ckpt.tmp-${host}-${dead}-00000000000d`); // holds a file we did not write
  const notOurs = path.join(root, `ckpt.tmp-${dead}-1`); // not our naming
  for (const folder of [stale, staleOther, live, foreign, notOurs]) {
    await mkdir(folder);
    await writeFile(path.join(folder, 'model.json'), '{}');
  }
  await writeFile(path.join(foreign, 'notes.txt'), 'precious');
  const result = await train({ ...config, epochs: 1 });
  t.after(() => result.model.dispose());
  await saveCheckpoint(path.join(root, 'ckpt'), { model: result.model, preprocessing: result.preprocessing, config, metrics: {} });
  assert.deepEqual((await readdir(root)).sort(), ['ckpt', path.basename(foreign), path.basename(live), path.basename(notOurs)].sort());
  assert.deepEqual(await sweepStaleTempFolders(root), [], 'nothing more to sweep');
});
