import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parseTrainConfig } from '../../src/train/config.ts';
import { train, predictFlat } from '../../src/train/trainer.ts';
import { saveCheckpoint, loadCheckpointModel, loadPreprocessing, CHECKPOINT_FILES } from '../../src/train/checkpoint.ts';
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
  assert.deepEqual((await readdir(dir)).sort(), [...CHECKPOINT_FILES].sort());

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

  const preprocessing = await loadPreprocessing(dir);
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
