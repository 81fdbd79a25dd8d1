import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadTrainConfig, parseTrainConfig } from '../../src/train/config.ts';
import { train } from '../../src/train/trainer.ts';
import { saveCheckpoint } from '../../src/train/checkpoint.ts';
import { runReportCommand } from '../../src/commands/report.ts';
import { costSeries } from '../../src/report/series.ts';
import { gridRows } from '../../src/report/decision-grid.ts';
import type { TrainConfig } from '../../src/train/config.ts';
import { tempDir } from '../train/helpers.ts';

async function checkpointFor(config: TrainConfig, dir: string): Promise<string> {
  const result = await train(config);
  const out = path.join(dir, 'ckpt');
  await saveCheckpoint(out, {
    model: result.model,
    preprocessing: result.preprocessing,
    config,
    metrics: { runId: 'run-1', epochs: result.epochs, bnGuard: result.bnGuard },
  });
  result.model.dispose();
  return out;
}

test('report draws cost per epoch and Iris decision regions over the chosen features', async (t) => {
  const dir = await tempDir(t);
  const config = await loadTrainConfig('examples/iris-bn.json');
  config.epochs = 6;
  const checkpoint = await checkpointFor(config, dir);
  const out = path.join(dir, 'report.svg');
  const result = await runReportCommand({ checkpoint, out, features: 'sepal_length,sepal_width', resolution: 20 });
  assert.deepEqual(result, { out, panels: 2, epochs: 6 });
  const svg = await readFile(out, 'utf8');
  assert.match(svg, /^<svg/);
  for (const text of [
    'cost per epoch',
    'validation loss',
    'decision regions (petal_length, petal_width at training mean)',
    'sepal_length',
    'sepal_width',
    'virginica',
  ]) {
    assert.ok(svg.includes(text), text);
  }
  await assert.rejects(
    runReportCommand({ checkpoint, out, features: 'sepal_length,nope', resolution: 20 }),
    /--features needs two different feature names/,
  );
});

test('image models get the cost panel only', async (t) => {
  const dir = await tempDir(t);
  const config = parseTrainConfig({
    data: { kind: 'synthetic', samples: 30, classes: 2, image: { height: 4, width: 4, channels: 1 } },
    layers: [{ type: 'flatten' }, { type: 'dense', units: 4 }, { type: 'batchNormalization' }],
    epochs: 2,
    backend: 'cpu',
  });
  const checkpoint = await checkpointFor(config, dir);
  const result = await runReportCommand({ checkpoint, out: path.join(dir, 'r.svg'), resolution: 10 });
  assert.equal(result.panels, 1);
});

test('cost series leave out non-finite values and an all-zero regularisation term', () => {
  const epoch = (n: number, loss: number, reg: number) => ({
    epoch: n,
    loss,
    dataLoss: loss - reg,
    regularizationLoss: reg,
    validation: { valLoss: 1 },
  });
  const points = costSeries([epoch(1, 2, 0), epoch(2, NaN, 0)]);
  assert.deepEqual(
    points.map((p) => `${p.epoch}:${p.series}`),
    ['1:training loss (data + regularisation)', '1:data loss', '1:validation loss', '2:validation loss'],
  );
});

test('the decision grid spans both ranges and holds the other features at the fill values', () => {
  const rows = gridRows({ featureCount: 3, xFeature: 2, yFeature: 0, xRange: [0, 1], yRange: [10, 20], resolution: 3, fill: [7, 8, 9] });
  assert.equal(rows.length, 27);
  assert.deepEqual(Array.from(rows.subarray(0, 3)), [10, 8, 0]);
  assert.deepEqual(Array.from(rows.subarray(24, 27)), [20, 8, 1]);
  assert.ok(Array.from({ length: 9 }, (_, k) => rows[k * 3 + 1]).every((v) => v === 8));
});
