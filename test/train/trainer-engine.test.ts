// The trainer's engine choice end to end: `auto` trains a supported dense Adam classifier with
// onnxruntime, to the tfjs engine's results; the BN moving statistics it leaves pass the BN guard.
// No bias before the BN: its exact gradient is 0, so Adam moves it by rounding noise, differently per engine.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseTrainConfig } from '../../src/train/config.ts';
import { train } from '../../src/train/trainer.ts';

const saved = process.env.BNSERVE_TRAIN_ENGINE;
after(() => {
  if (saved === undefined) delete process.env.BNSERVE_TRAIN_ENGINE;
  else process.env.BNSERVE_TRAIN_ENGINE = saved;
});

const config = () =>
  parseTrainConfig({
    name: 'engine',
    task: 'classification',
    data: { kind: 'iris' },
    split: { train: 0.7, validation: 0.1, test: 0.2, seed: 42, stratify: true },
    standardize: true,
    layers: [
      { type: 'dense', units: 16, useBias: false },
      { type: 'batchNormalization', momentum: 0.9 },
      { type: 'activation', activation: 'relu' },
    ],
    optimizer: { type: 'adam', learningRate: 0.01 },
    epochs: 6,
    batchSize: 16,
    seed: 3,
  });

async function run(engine: string) {
  process.env.BNSERVE_TRAIN_ENGINE = engine;
  const result = await train(config());
  result.model.dispose();
  return result;
}

test('auto trains a dense Adam classifier with onnxruntime, to the losses the tfjs engine reaches', async () => {
  const ort = await run('auto');
  const tfjs = await run('tfjs');
  assert.equal(ort.engine.engine, 'onnxruntime', ort.engine.reason);
  assert.equal(tfjs.engine.engine, 'tfjs');
  assert.equal(ort.bnSteps, tfjs.bnSteps);
  assert.equal(ort.bnGuard?.stale, false);
  for (const [i, e] of ort.epochs.entries()) {
    const want = tfjs.epochs[i];
    assert.ok(Math.abs(e.loss - want.loss) <= 1e-4 * Math.abs(want.loss), `epoch ${i + 1} loss ${e.loss} vs ${want.loss}`);
    assert.ok(
      Math.abs(e.validation.valLoss - want.validation.valLoss) <= 1e-4 * want.validation.valLoss,
      `epoch ${i + 1} valLoss ${e.validation.valLoss} vs ${want.validation.valLoss}`,
    );
  }
  // Two engines: the same numbers to rounding, not bit for bit (the summation orders differ).
  assert.notDeepEqual(
    ort.epochs.map((e) => e.loss),
    tfjs.epochs.map((e) => e.loss),
  );
});

test('BNSERVE_TRAIN_ENGINE=onnxruntime refuses a model it cannot train, naming why', async () => {
  process.env.BNSERVE_TRAIN_ENGINE = 'onnxruntime';
  const c = config();
  c.optimizer = { type: 'sgd', learningRate: 0.1 } as typeof c.optimizer;
  await assert.rejects(train(c), /onnxruntime training engine cannot train this model/);
});
