import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { assertConverged, collapseCheck, TrainingError } from '../../src/train/divergence.ts';
import { asResourceError, train } from '../../src/train/trainer.ts';
import { ConfigError, parseTrainConfig } from '../../src/train/config.ts';
import { ROOT } from '../cli/run-cli.ts';

const labels = [0, 0, 1, 1, 2, 2];

test('collapse: every row answered with certainty and worse than the class frequencies', () => {
  const oneClass = labels.flatMap(() => [0, 1, 0]);
  const collapsed = collapseCheck(oneClass, labels, 3);
  assert.equal(collapsed.collapsed, true);
  assert.equal(collapsed.predictedClasses, 1);
  assert.ok(Math.abs(collapsed.priorCrossEntropy - Math.log(3)) < 1e-12);
  // Saturated on two classes, right on a third of the rows: still no better than knowing nothing.
  const twoClasses = [1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 1];
  assert.equal(collapseCheck(twoClasses, labels, 3).collapsed, true);
});

test('no collapse for an untrained, an undecided or a confidently right model', () => {
  const uniform = labels.flatMap(() => [1 / 3, 1 / 3, 1 / 3]);
  assert.equal(collapseCheck(uniform, labels, 3).collapsed, false);
  // One class everywhere but not saturated (an undertrained model): not flagged.
  const leaning = labels.flatMap(() => [0.5, 0.3, 0.2]);
  assert.equal(collapseCheck(leaning, labels, 3).collapsed, false);
  // Saturated and right on every row: a good model.
  const right = labels.flatMap((y) => [0, 1, 2].map((c) => (c === y ? 0.999 : 0.0005)));
  assert.equal(collapseCheck(right, labels, 3).collapsed, false);
  // The rule is information-theoretic, not about class counts: saturated and wrong on 1 row in 6 gives a
  // cross-entropy of 1.27, already worse than answering the class frequencies (ln 3 = 1.10), so it is flagged
  // although it predicts every class; wrong on 1 row in 12 (0.64) is not.
  const oneWrong = right.slice();
  oneWrong.splice(0, 3, 0.0005, 0.999, 0.0005);
  assert.equal(collapseCheck(oneWrong, labels, 3).collapsed, true);
  assert.equal(collapseCheck([...oneWrong, ...right], [...labels, ...labels], 3).collapsed, false);
});

const epoch = (n: number, loss: number, nonFiniteWeights = 0) => ({ epoch: n, loss, learningRate: 0.5, nonFiniteWeights });

test('assertConverged: NaN weights with a finite loss, an exploded loss, a collapsed classifier', () => {
  assert.throws(
    () =>
      assertConverged({
        epochs: [epoch(1, 2), epoch(2, 1.5, 7)],
        test: { loss: 1 },
        nonFinite: { count: 7, total: 20, names: ['dense_0/kernel'] },
      }),
    (e: unknown) => e instanceof TrainingError && /7 of 20 weights .* at epoch 2 \(in dense_0\/kernel\)/.test(e.message),
  );
  assert.throws(
    () => assertConverged({ epochs: [epoch(1, 5e3), epoch(2, 2e4)], test: { loss: 1 }, firstBatchLoss: 10 }),
    /loss grew from 10\.0 \(first batch\) to 2\.00e\+4 at epoch 2, more than 1000×; the learning rate 0\.5 is far too large/,
  );
  // A spike that came back down is judged by the kept epoch.
  assert.doesNotThrow(() => assertConverged({ epochs: [epoch(1, 5e4), epoch(2, 1)], test: { loss: 1 }, firstBatchLoss: 10 }));
  assert.throws(
    () => assertConverged({ epochs: [epoch(1, 5e4), epoch(2, 1)], test: { loss: 1 }, firstBatchLoss: 10, bestEpoch: 1 }),
    /loss grew/,
  );
  const collapse = collapseCheck(
    labels.flatMap(() => [0, 1, 0]),
    labels,
    3,
  );
  assert.throws(() => assertConverged({ epochs: [epoch(1, 10)], test: { loss: 10 }, collapse }), /the model collapsed/);
  assert.doesNotThrow(() =>
    assertConverged({
      epochs: [epoch(1, 2), epoch(2, 0.5)],
      test: { loss: 0.4 },
      firstBatchLoss: 1.1,
      collapse: { ...collapse, collapsed: false },
    }),
  );
});

test('a regression whose loss explodes with a huge learning rate is diverged; the same model at a sane rate is not', async () => {
  const base = {
    task: 'regression',
    data: { kind: 'csv', path: 'test/train/fixtures/linear.csv', labelColumn: 'y' },
    split: { train: 0.6, validation: 0.2, test: 0.2, seed: 1, stratify: false },
    layers: [{ type: 'dense', units: 8 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }],
    epochs: 15,
    batchSize: 8,
    backend: 'cpu',
  };
  const exploded = await train(parseTrainConfig({ ...base, optimizer: { learningRate: 1e6 } }, ROOT));
  exploded.model.dispose();
  assert.equal(exploded.collapse, undefined, 'no collapse check for regression');
  assert.throws(() => assertConverged(exploded), /loss grew from .* more than 1000×; the learning rate 1000000 is far too large/);
  const healthy = await train(parseTrainConfig(base, ROOT));
  healthy.model.dispose();
  assert.doesNotThrow(() => assertConverged(healthy));
});

test('the shipped examples pass every divergence gate', { timeout: 300_000 }, async () => {
  for (const name of ['iris-bn.json', 'mlp-3bn.json']) {
    const file = path.join(ROOT, 'examples', name);
    const result = await train(parseTrainConfig(JSON.parse(readFileSync(file, 'utf8')), path.dirname(file)));
    result.model.dispose();
    assert.equal(result.collapse?.collapsed, false, name);
    assert.equal(result.nonFinite.count, 0, name);
    assert.doesNotThrow(() => assertConverged(result), name);
  }
});

test('running out of memory becomes a config error that says what to lower', () => {
  const oob = new WebAssembly.RuntimeError('memory access out of bounds');
  const mapped = asResourceError(oob, { batchSize: 20000 });
  assert.ok(mapped instanceof ConfigError);
  assert.match(mapped.message, /ran out of memory .*lower batchSize \(now 20000\)/);
  assert.ok(asResourceError(new RangeError('Array buffer allocation failed'), { batchSize: 1 }) instanceof ConfigError);
  const other = new TypeError('something else');
  assert.equal(asResourceError(other, { batchSize: 1 }), other);
});
