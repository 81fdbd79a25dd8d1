import path from 'node:path';
import { loadCheckpointModel, loadPreprocessing, readJson } from '../train/checkpoint.ts';
import type { Preprocessing } from '../train/checkpoint.ts';
import { parseTrainConfig, ConfigError } from '../train/config.ts';
import { loadDataset } from '../train/data.ts';
import { predictFlat } from '../train/trainer.ts';
import { applyStandardization } from '../train/standardize.ts';
import { argmax } from '../train/metrics.ts';
import { costSeries } from '../report/series.ts';
import type { StoredEpoch } from '../report/series.ts';
import { gridRows, paddedRange } from '../report/decision-grid.ts';
import { costChart, decisionRegionChart, report } from '../report/charts.ts';
import type { RegionCell } from '../report/charts.ts';
import { renderSvg } from '../report/render.ts';
import { writeFileAtomic } from '../lib/durable-fs.ts';
import type * as tf from '@tensorflow/tfjs';

export interface ReportCommandOptions {
  checkpoint: string;
  out: string;
  /** Two feature names for the decision-region panel; default: the two the first Dense weighs most. */
  features?: string;
  resolution: number;
}

/** Indices of the two features whose rows of the first Dense kernel have the largest L2 norm. */
export function mostWeightedFeatures(model: tf.LayersModel): [number, number] {
  const dense = model.layers.find((layer) => layer.getClassName() === 'Dense');
  if (!dense) return [0, 1];
  const kernel = dense.getWeights()[0].arraySync() as number[][];
  const norms = kernel.map((row, i) => ({ i, norm: Math.hypot(...row) }));
  const [a, b] = norms.sort((p, q) => q.norm - p.norm).map((n) => n.i);
  return a < b ? [a, b] : [b, a];
}

function chosenFeatures(option: string | undefined, preprocessing: Preprocessing, model: tf.LayersModel): [number, number] {
  if (!option) return mostWeightedFeatures(model);
  const names = option.split(',').map((n) => n.trim());
  const indices = names.map((name) => preprocessing.featureNames.indexOf(name));
  if (names.length !== 2 || indices.some((i) => i < 0) || indices[0] === indices[1]) {
    throw new ConfigError(`--features needs two different feature names from: ${preprocessing.featureNames.join(', ')}`);
  }
  return [indices[0], indices[1]];
}

async function decisionPanel(dir: string, preprocessing: Preprocessing, options: ReportCommandOptions) {
  const config = parseTrainConfig(await readJson(path.join(dir, 'config.json')));
  const data = await loadDataset(config);
  const model = await loadCheckpointModel(dir);
  try {
    const f = preprocessing.featureNames.length;
    const [xi, yi] = chosenFeatures(options.features, preprocessing, model);
    const n = options.resolution;
    const xRange = paddedRange(data.x, f, xi);
    const yRange = paddedRange(data.x, f, yi);
    const grid = gridRows({ featureCount: f, xFeature: xi, yFeature: yi, xRange, yRange, resolution: n, fill: preprocessing.mean });
    const probabilities = predictFlat(model, applyStandardization(grid, preprocessing), [f]);
    const classes = preprocessing.classLabels.length;
    const dx = (xRange[1] - xRange[0]) / (n - 1) / 2;
    const dy = (yRange[1] - yRange[0]) / (n - 1) / 2;
    const cells: RegionCell[] = [];
    for (let k = 0; k < n * n; k++) {
      const x = grid[k * f + xi];
      const y = grid[k * f + yi];
      cells.push({
        x: x - dx,
        x2: x + dx,
        y: y - dy,
        y2: y + dy,
        label: preprocessing.classLabels[argmax(probabilities, k * classes, classes)],
      });
    }
    const points = Array.from(data.y, (label, i) => ({ x: data.x[i * f + xi], y: data.x[i * f + yi], label: data.classLabels[label] }));
    const others = preprocessing.featureNames.filter((_, i) => i !== xi && i !== yi);
    const title = others.length > 0 ? `decision regions (${others.join(', ')} at training mean)` : 'decision regions';
    return decisionRegionChart(
      cells,
      points,
      { x: preprocessing.featureNames[xi], y: preprocessing.featureNames[yi] },
      preprocessing.classLabels,
      title,
    );
  } finally {
    model.dispose();
  }
}

/** Cost per epoch, and for tabular classifiers the decision regions over two features, as one SVG. */
export async function runReportCommand(options: ReportCommandOptions) {
  const dir = path.resolve(options.checkpoint);
  const metrics = await readJson<{ epochs: StoredEpoch[]; runId?: string }>(path.join(dir, 'metrics.json'));
  const preprocessing = await loadPreprocessing(dir);
  const charts: object[] = [costChart(costSeries(metrics.epochs), 'cost per epoch')];
  const tabularClassifier =
    preprocessing.task === 'classification' && preprocessing.inputShape.length === 1 && preprocessing.featureNames.length >= 2;
  if (tabularClassifier) charts.push(await decisionPanel(dir, preprocessing, options));
  const svg = await renderSvg(report(charts, `bnserve run ${metrics.runId ?? path.basename(dir)}`));
  const out = path.resolve(options.out);
  await writeFileAtomic(out, new TextEncoder().encode(svg));
  return { out, panels: charts.length, epochs: metrics.epochs.length };
}
