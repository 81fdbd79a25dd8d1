import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTrainConfig, ConfigError, effectiveL2 } from '../../src/train/config.ts';
import { regularizationPenalty, learningRateAt } from '../../src/train/metrics.ts';
import * as tf from '@tensorflow/tfjs';

const base = { data: { kind: 'iris' }, layers: [{ type: 'dense', units: 4 }] };

test('no hidden layers is softmax regression: the trainer adds the output layer', () => {
  assert.deepEqual(parseTrainConfig({ ...base, layers: [] }).layers, []);
});

test('defaults follow Keras for batch normalization', () => {
  const config = parseTrainConfig({ ...base, layers: [{ type: 'batchNormalization' }] });
  assert.deepEqual(config.layers[0], { type: 'batchNormalization', momentum: 0.99, epsilon: 0.001, center: true, scale: true });
});

test('bad configs fail with one message naming the field', () => {
  const cases: [unknown, RegExp][] = [
    [{ ...base, layers: [{ type: 'lstm', units: 3 }] }, /✖ .*\n {2}→ at layers\[0\]\.type/],
    [{ ...base, optimizer: { type: 'sgd', learningRate: -0.1 } }, /✖ .*(>0|greater than 0|positive).*\n {2}→ at optimizer\.learningRate/i],
    [{ ...base, layers: [{ type: 'batchNormalization', momentum: 1.5 }] }, /→ at layers\[0\]\.momentum/],
    [{ ...base, split: { train: 0.8, validation: 0.3, test: 0.2 } }, /✖ train \+ validation \+ test must add up to 1\n {2}→ at split/],
    [{ ...base, data: { kind: 'csv', path: 'x.csv' } }, /→ at data\.labelColumn/],
    [{ ...base, epochs: 0 }, /epochs/],
    [{ ...base, layers: {} }, /→ at layers$/m],
    [{ ...base, unknownKey: 1 }, /unknownKey/],
  ];
  for (const [raw, message] of cases) {
    assert.throws(
      () => parseTrainConfig(raw),
      (e: unknown) => e instanceof ConfigError && message.test(e.message),
      JSON.stringify(raw),
    );
  }
});

test('L2 conventions: Keras/tfjs scale·Σw², TF1 weightDecay·Σw²/2', () => {
  const w = [0.5, -1.5, 2];
  const sumSquares = 0.25 + 2.25 + 4;
  assert.equal(regularizationPenalty(w, 0, effectiveL2({ l1: 0, l2: 0.01, weightDecay: 0 })), 0.01 * sumSquares);
  assert.equal(regularizationPenalty(w, 0, effectiveL2({ l1: 0, l2: 0, weightDecay: 0.01 })), (0.01 * sumSquares) / 2);
  // Our penalty is the one tfjs adds to the loss.
  const tfjsValue = tf.tidy(() => tf.regularizers.l1l2({ l1: 0.1, l2: 0.01 }).apply(tf.tensor1d(w)).dataSync()[0]);
  assert.ok(Math.abs(regularizationPenalty(w, 0.1, 0.01) - tfjsValue) < 1e-6);
});

test('learning rate schedules', () => {
  assert.equal(learningRateAt(0.1, 5), 0.1);
  assert.ok(Math.abs(learningRateAt(0.1, 4, { type: 'exponential', rate: 0.5, every: 2 }) - 0.025) < 1e-12);
  assert.ok(Math.abs(learningRateAt(0.1, 5, { type: 'step', rate: 0.5, every: 2 }) - 0.025) < 1e-12);
});

test('a config file is read only when it is a regular file, and its content is never quoted', async () => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { loadTrainConfig } = await import('../../src/train/config.ts');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-config-'));
  try {
    const fifo = path.join(dir, 'config.json');
    execFileSync('mkfifo', [fifo]);
    // Opening a FIFO with no writer would block for ever: the refusal must come without one.
    await assert.rejects(loadTrainConfig(fifo), (err: Error) => err instanceof ConfigError && /is a pipe/.test(err.message));
    const secret = path.join(dir, 'passwd');
    writeFileSync(secret, 'root:x:0:0:root:/root:/bin/bash\n');
    await assert.rejects(
      loadTrainConfig(secret),
      (err: Error) => err instanceof ConfigError && /is not valid JSON/.test(err.message) && !/root:/.test(err.message.replace(dir, '')),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
