import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadTrainConfig, parseTrainConfig } from '../../src/train/config.ts';
import { train } from '../../src/train/trainer.ts';
import { saveCheckpoint } from '../../src/train/tfjs-checkpoint.ts';
import { runReportCommand } from '../../src/commands/report.ts';
import { costAxis, costSeries, tickLabel } from '../../src/report/series.ts';
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
  assert.deepEqual(result, { out, format: 'svg', panels: 2, runs: 1, epochs: 6 });
  const svg = await readFile(out, 'utf8');
  assert.match(svg, /^<svg/);
  for (const text of [
    'cost per epoch',
    'validation loss',
    'decision regions, most probable class (petal_length, petal_width at training mean)',
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

test('cost series leave out non-finite values, and the data/regularisation split when nothing is regularised', () => {
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
    ['1:training loss', '1:validation loss', '2:validation loss'],
  );
  const regularised = costSeries([epoch(1, 2, 0.5)]);
  assert.deepEqual(
    regularised.map((p) => `${p.series}=${p.value}`),
    ['training loss (data + regularisation)=2', 'data loss=1.5', 'regularisation loss=0.5', 'validation loss=1'],
  );
});

test('the cost axis is log10 when the values span two decades or more, linear otherwise; ticks read 1e-3…1e30', () => {
  assert.deepEqual(costAxis([50, 48, 40]), { type: 'linear' });
  assert.deepEqual(costAxis([50, 0, 40]), { type: 'linear' }, 'a zero cannot go on a log axis');
  const wide = costAxis([50, 2232, 7.8e28]);
  assert.equal(wide.type, 'log');
  assert.deepEqual(wide.domain, [10, 1e29]);
  assert.ok(wide.ticks!.length <= 9 && wide.ticks![0] === 10 && wide.ticks!.at(-1)! <= 1e29, JSON.stringify(wide.ticks));
  assert.equal(costAxis([1e-3, 1]).type, 'log');
  assert.deepEqual([1e-5, 0.001, 0.5, 50, 1000, 1e4, 1e30, 2.5e7].map(tickLabel), [
    '1e-5',
    '0.001',
    '0.5',
    '50',
    '1000',
    '1e4',
    '1e30',
    '2.5×1e7',
  ]);
});

test('the decision grid spans both ranges and holds the other features at the fill values', () => {
  const rows = gridRows({ featureCount: 3, xFeature: 2, yFeature: 0, xRange: [0, 1], yRange: [10, 20], resolution: 3, fill: [7, 8, 9] });
  assert.equal(rows.length, 27);
  assert.deepEqual(Array.from(rows.subarray(0, 3)), [10, 8, 0]);
  assert.deepEqual(Array.from(rows.subarray(24, 27)), [20, 8, 1]);
  assert.ok(Array.from({ length: 9 }, (_, k) => rows[k * 3 + 1]).every((v) => v === 8));
});

test('an Adaline gets sign decision regions with its two classes; --runs puts runs side by side or overlaid; PNG needs its package', async (t) => {
  const dir = await tempDir(t);
  const std = await loadTrainConfig('examples/seed/adaline-std-lr0.01.json');
  const slow = await loadTrainConfig('examples/seed/adaline-raw-lr0.0001.json');
  const a = await checkpointFor(std, path.join(dir, 'a'));
  const b = await checkpointFor(slow, path.join(dir, 'b'));
  const out = path.join(dir, 'adaline.svg');
  const single = await runReportCommand({ checkpoint: a, out, resolution: 30 });
  assert.equal(single.panels, 2);
  const svg = await readFile(out, 'utf8');
  for (const text of [
    'decision regions, sign of the output',
    '>setosa<',
    '>versicolor<',
    '>class<',
    'sepal_length',
    'petal_length',
    '>training loss<',
  ]) {
    assert.ok(svg.includes(text), text);
  }
  // Both classes have a region: the boundary crosses the plotted slice.
  assert.match(svg, /x2: [^"]*class: setosa"/);
  assert.match(svg, /x2: [^"]*class: versicolor"/);

  const side = await runReportCommand({ runs: `${a},${b}`, out, resolution: 10 });
  assert.deepEqual([side.panels, side.runs, side.epochs], [2, 2, 25]);
  const both = await readFile(out, 'utf8');
  assert.ok(both.includes('adaline-std-lr0.01 (lr 0.01, standardised)') && both.includes('adaline-raw-lr0.0001 (lr 0.0001, raw inputs)'));
  const overlaid = await runReportCommand({ runs: `${a},${b}`, overlay: true, out, resolution: 10 });
  assert.equal(overlaid.panels, 1);

  await assert.rejects(runReportCommand({ out, resolution: 10 }), /give --checkpoint <dir> or --runs/);
  await assert.rejects(runReportCommand({ checkpoint: a, out, format: 'gif', resolution: 10 }), /--format must be svg or png/);
  let resvg = true;
  try {
    await import('@resvg/resvg-js' as string);
  } catch {
    resvg = false;
  }
  const png = path.join(dir, 'adaline.png');
  if (resvg) {
    await runReportCommand({ checkpoint: a, out: png, resolution: 10 });
    const bytes = await readFile(png);
    assert.deepEqual([...bytes.subarray(1, 4)], [0x50, 0x4e, 0x47]);
  } else {
    await assert.rejects(
      runReportCommand({ checkpoint: a, out: png, resolution: 10 }),
      /PNG output needs the npm package @resvg\/resvg-js/,
    );
  }
});
