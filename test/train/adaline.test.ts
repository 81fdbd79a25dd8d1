import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { loadTrainConfig } from '../../src/train/config.ts';
import { predictFlat, train } from '../../src/train/trainer.ts';
import { IRIS_CSV } from '../../src/train/data.ts';
import { applyStandardization } from '../../src/train/standardize.ts';
import { predictSign } from '../../src/train/metrics.ts';

/**
 * The tutorial's Adaline, written out independently of the trainer: Iris rows 0–99, sepal length and
 * petal length, y = −1 for setosa and +1 otherwise, w = 0 and b = 0, and per epoch
 * errors = y − (Xw + b); w += η·Xᵀerrors; b += η·Σerrors; cost = Σerrors²/2 (before the update).
 */
async function tutorialData(standardise: boolean): Promise<{ x: number[][]; y: number[] }> {
  const lines = (await readFile(IRIS_CSV, 'utf8')).trim().split('\n').slice(1, 101);
  const rows = lines.map((line) => line.split(','));
  const x = rows.map((r) => [Number(r[0]), Number(r[2])]);
  const y = rows.map((r) => (r[4] === 'setosa' ? -1 : 1));
  if (!standardise) return { x, y };
  const columns = [0, 1].map((c) => {
    const values = x.map((row) => row[c]);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const std = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
    return { mean, std };
  });
  return { x: x.map((row) => row.map((v, c) => (v - columns[c].mean) / columns[c].std)), y };
}

function tutorialCosts(x: number[][], y: number[], eta: number, epochs: number): number[] {
  const w = [0, 0];
  let b = 0;
  const costs: number[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const errors = x.map((row, i) => y[i] - (row[0] * w[0] + row[1] * w[1] + b));
    for (const c of [0, 1]) w[c] += eta * x.reduce((sum, row, i) => sum + row[c] * errors[i], 0);
    b += eta * errors.reduce((a, e) => a + e, 0);
    costs.push(errors.reduce((a, e) => a + e * e, 0) / 2);
  }
  return costs;
}

function assertSameCurve(actual: number[], expected: number[]) {
  assert.equal(actual.length, expected.length);
  expected.forEach((want, i) => {
    if (!Number.isFinite(want)) return;
    const relative = Math.abs(actual[i] - want) / Math.abs(want);
    assert.ok(relative <= 1e-4, `epoch ${i + 1}: ${actual[i]} vs the tutorial's ${want} (relative error ${relative})`);
  });
}

const runs = [
  { file: 'examples/seed/adaline-raw-lr0.01.json', eta: 0.01, standardise: false, epochs: 10 },
  { file: 'examples/seed/adaline-raw-lr0.0001.json', eta: 0.0001, standardise: false, epochs: 10 },
  { file: 'examples/seed/adaline-std-lr0.01.json', eta: 0.01, standardise: true, epochs: 15 },
];

for (const run of runs) {
  test(`${run.file} reproduces the tutorial's cost per epoch`, async () => {
    const config = await loadTrainConfig(run.file);
    assert.equal(config.optimizer.learningRate, run.eta);
    assert.equal(config.standardize, run.standardise);
    assert.equal(config.epochs, run.epochs);
    const result = await train(config);
    try {
      const { x, y } = await tutorialData(run.standardise);
      const expected = tutorialCosts(x, y, run.eta, run.epochs);
      assert.equal(expected[0], 50, 'zero weights: the first cost is Σy²/2 = 100/2');
      assert.equal(result.trainSize, 100, 'every row is trained on');
      assertSameCurve(
        result.epochs.map((e) => e.loss),
        expected,
      );
      // No validation or test split: those sections are absent, not zero.
      assert.deepEqual(result.test, {});
      assert.deepEqual(result.epochs.at(-1)!.validation, {});
      assert.equal(result.bnGuard, undefined, 'no BN layer, no BN guard');
      assert.deepEqual(result.preprocessing.signClasses, { negative: 'setosa', positive: 'versicolor' });
    } finally {
      result.model.dispose();
    }
  });
}

test('the raw lr 0.01 run grows by orders of magnitude and the lr 0.0001 run decreases slowly, like the tutorial says', async () => {
  const { x, y } = await tutorialData(false);
  const fast = tutorialCosts(x, y, 0.01, 10);
  const slow = tutorialCosts(x, y, 0.0001, 10);
  assert.ok(fast[9] / fast[0] > 1e20, `${fast[9]}`);
  for (let i = 1; i < 10; i++) assert.ok(slow[i] < slow[i - 1] && slow[i] > 0.75 * slow[i - 1], `${slow}`);
  assert.ok(slow[9] > 35, 'still far from converged after 10 epochs');
});

test('the standardised Adaline classifies all 100 training rows correctly by sign', async () => {
  const config = await loadTrainConfig('examples/seed/adaline-std-lr0.01.json');
  const result = await train(config);
  try {
    const { x, y } = await tutorialData(false);
    const raw = Float32Array.from(x.flat());
    const out = predictFlat(result.model, applyStandardization(raw, result.preprocessing), [2]);
    const wrong = y.filter((label, i) => predictSign(out[i]) !== label).length;
    assert.equal(wrong, 0, `${wrong} of 100 rows misclassified`);
    assert.equal(result.epochs.at(-1)!.train.accuracy, 1);
  } finally {
    result.model.dispose();
  }
});
