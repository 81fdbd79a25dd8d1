import { existsSync } from 'node:fs';
import path from 'node:path';
import { CheckpointError, METRICS_FILE, MODEL_FILE, readConfig, readMetrics, readPreprocessing } from '../checkpoint/index.ts';
import type { Preprocessing } from '../checkpoint/index.ts';
import { loadCheckpointModel } from '../train/tfjs-checkpoint.ts';
import { ConfigError } from '../train/config.ts';
import type { TrainConfig } from '../train/config.ts';
import { loadDataset } from '../train/data.ts';
import { predictFlat } from '../train/trainer.ts';
import { applyStandardization } from '../train/standardize.ts';
import { argmax, predictSign } from '../train/metrics.ts';
import { costSeries } from '../report/series.ts';
import type { StoredEpoch } from '../report/series.ts';
import { gridRows, paddedRange } from '../report/decision-grid.ts';
import { costChart, decisionRegionChart, report } from '../report/charts.ts';
import type { RegionCell } from '../report/charts.ts';
import { renderSvg, svgToPng } from '../report/render.ts';
import { writeFileAtomic } from '../lib/durable-fs.ts';
import type * as tf from '@tensorflow/tfjs';

export interface ReportCommandOptions {
  /** One checkpoint (or diverged run) folder. */
  checkpoint?: string;
  /** Several folders, comma-separated: their cost curves side by side (or overlaid). */
  runs?: string;
  /** With --runs: one cost chart holding every run's training loss instead of one panel per run. */
  overlay?: boolean;
  out: string;
  /** svg (default) or png; default: from the --out extension. */
  format?: string;
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

/** Class names in output order: the softmax classes, or [negative, positive] of a ±1 linear classifier. */
function classesOf(preprocessing: Preprocessing): string[] | null {
  if (preprocessing.task === 'classification') return preprocessing.classLabels;
  if (preprocessing.signClasses) return [preprocessing.signClasses.negative, preprocessing.signClasses.positive];
  return null;
}

async function decisionPanel(
  dir: string,
  config: TrainConfig,
  preprocessing: Preprocessing,
  labels: string[],
  options: ReportCommandOptions,
) {
  const data = await loadDataset(config);
  const model = await loadCheckpointModel(dir);
  try {
    const f = preprocessing.featureNames.length;
    const [xi, yi] = chosenFeatures(options.features, preprocessing, model);
    const n = options.resolution;
    const xRange = paddedRange(data.x, f, xi);
    const yRange = paddedRange(data.x, f, yi);
    const grid = gridRows({ featureCount: f, xFeature: xi, yFeature: yi, xRange, yRange, resolution: n, fill: preprocessing.mean });
    const outputs = predictFlat(model, applyStandardization(grid, preprocessing), [f]);
    const sign = preprocessing.task === 'regression';
    // A ±1 linear classifier answers by the sign of its output; a softmax one by its largest probability.
    const classAt = (k: number) => (sign ? (predictSign(outputs[k]) < 0 ? 0 : 1) : argmax(outputs, k * labels.length, labels.length));
    const dx = (xRange[1] - xRange[0]) / (n - 1) / 2;
    const dy = (yRange[1] - yRange[0]) / (n - 1) / 2;
    const cells: RegionCell[] = [];
    for (let k = 0; k < n * n; k++) {
      const x = grid[k * f + xi];
      const y = grid[k * f + yi];
      cells.push({ x: x - dx, x2: x + dx, y: y - dy, y2: y + dy, label: labels[classAt(k)] });
    }
    const pointLabel = (target: number) => (sign ? labels[target < 0 ? 0 : 1] : data.classLabels[target]);
    const points = Array.from(data.y, (target, i) => ({ x: data.x[i * f + xi], y: data.x[i * f + yi], label: pointLabel(target) }));
    const others = preprocessing.featureNames.filter((_, i) => i !== xi && i !== yi);
    const rule = sign ? 'sign of the output' : 'most probable class';
    const title = others.length > 0 ? `decision regions, ${rule} (${others.join(', ')} at training mean)` : `decision regions, ${rule}`;
    return decisionRegionChart(cells, points, { x: preprocessing.featureNames[xi], y: preprocessing.featureNames[yi] }, labels, title);
  } finally {
    model.dispose();
  }
}

interface RunFolder {
  dir: string;
  runId: string;
  epochs: StoredEpoch[];
  config: TrainConfig;
  preprocessing: Preprocessing;
  diverged: boolean;
  /** model.json present: a checkpoint (a diverged run folder has none). */
  hasModel: boolean;
}

async function readRunFolder(folder: string): Promise<RunFolder> {
  const dir = path.resolve(folder);
  const metrics = await readMetrics(dir);
  if (!metrics.epochs) throw new CheckpointError(`${path.join(dir, METRICS_FILE)} has no epochs to draw`);
  return {
    dir,
    runId: metrics.runId ?? path.basename(dir),
    epochs: metrics.epochs,
    config: await readConfig(dir),
    preprocessing: await readPreprocessing(dir),
    diverged: metrics.diverged === true,
    hasModel: existsSync(path.join(dir, MODEL_FILE)),
  };
}

/** "adaline-raw (lr 0.01, raw inputs, diverged)": what tells runs apart in a comparison. */
function runTitle(run: RunFolder): string {
  const inputs = run.config.standardize ? 'standardised' : 'raw inputs';
  return `${run.config.name} (lr ${run.config.optimizer.learningRate}, ${inputs}${run.diverged ? ', diverged' : ''})`;
}

function outputFormat(options: ReportCommandOptions): 'svg' | 'png' {
  const format = (options.format ?? (path.extname(options.out).toLowerCase() === '.png' ? 'png' : 'svg')).toLowerCase();
  if (format !== 'svg' && format !== 'png') throw new ConfigError(`--format must be svg or png, not "${options.format}"`);
  return format;
}

/** One run: cost per epoch, and for 2+-feature tabular classifiers (Adaline included) the decision regions. */
async function singleRunCharts(run: RunFolder, options: ReportCommandOptions): Promise<object[]> {
  const charts: object[] = [costChart(costSeries(run.epochs), `cost per epoch: ${runTitle(run)}`)];
  const labels = classesOf(run.preprocessing);
  const tabular = run.preprocessing.inputShape.length === 1 && run.preprocessing.featureNames.length >= 2;
  if (labels && tabular && run.hasModel) charts.push(await decisionPanel(run.dir, run.config, run.preprocessing, labels, options));
  return charts;
}

/** Several runs: a cost panel per run side by side (each with its own axis), or one overlaid chart. */
function comparisonCharts(runs: RunFolder[], overlay: boolean): object[] {
  if (!overlay) return runs.map((run) => costChart(costSeries(run.epochs), runTitle(run)));
  const points = runs.flatMap((run) =>
    costSeries(run.epochs)
      .filter((p) => p.series.startsWith('training loss'))
      .map((p) => ({ ...p, series: runTitle(run) })),
  );
  return [costChart(points, 'training cost per epoch')];
}

/** Writes the report (SVG, or PNG on request) for one run folder or several (--runs). */
export async function runReportCommand(options: ReportCommandOptions) {
  const folders = options.runs
    ? options.runs
        .split(',')
        .map((r) => r.trim())
        .filter((r) => r !== '')
    : options.checkpoint
      ? [options.checkpoint]
      : [];
  if (folders.length === 0) throw new ConfigError('give --checkpoint <dir> or --runs <dir,dir,…>');
  if (options.runs && options.checkpoint) throw new ConfigError('give either --checkpoint or --runs, not both');
  const format = outputFormat(options);
  const runs = await Promise.all(folders.map(readRunFolder));
  const charts =
    runs.length === 1 && !options.runs ? await singleRunCharts(runs[0], options) : comparisonCharts(runs, options.overlay === true);
  const title = runs.length === 1 ? `bnserve run ${runs[0].runId}` : `bnserve runs: ${runs.map((r) => r.config.name).join(', ')}`;
  const svg = await renderSvg(report(charts, title));
  const bytes = format === 'png' ? await svgToPng(svg) : new TextEncoder().encode(svg);
  const out = path.resolve(options.out);
  await writeFileAtomic(out, bytes);
  return { out, format, panels: charts.length, runs: runs.length, epochs: runs.reduce((n, r) => n + r.epochs.length, 0) };
}
