import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TabularSource, TrainConfig } from './config.ts';
import type { Dataset } from './dataset.ts';
import { datasetSize, subset } from './dataset.ts';
import { DataError, loadCsvDataset, quoteName } from './data-csv.ts';
import type { ReadLimit } from '../lib/regular-file.ts';
import { readSettings } from '../settings.ts';
import { syntheticClassification } from './data-synthetic.ts';
import { createRng, permutation } from './rng.ts';

/** Iris as shipped in examples/data (a transcription of scikit-learn's copy; see examples/data/README.md). */
export const IRIS_CSV = fileURLToPath(new URL('../../examples/data/iris.csv', import.meta.url));

export interface LoadDatasetOptions {
  /** Largest data file read (default: the BNSERVE_MAX_DATA_MB setting). */
  maxBytes?: number;
}

const MiB = 1024 * 1024;

function dataReadLimit(options: LoadDatasetOptions): ReadLimit {
  if (options.maxBytes !== undefined) return { maxBytes: options.maxBytes };
  return { maxBytes: readSettings(['BNSERVE_MAX_DATA_MB']).BNSERVE_MAX_DATA_MB * MiB, setting: 'BNSERVE_MAX_DATA_MB' };
}

/** The config's data; a CSV file must be a regular file within the size limit (DataError otherwise). */
export async function loadDataset(config: TrainConfig, options: LoadDatasetOptions = {}): Promise<Dataset> {
  const source = config.data;
  switch (source.kind) {
    case 'iris':
      return loadCsvDataset(IRIS_CSV, { ...selectionOf(source), labelColumn: 'species', task: config.task }, dataReadLimit(options));
    case 'csv':
      return loadCsvDataset(
        path.resolve(source.path),
        { ...selectionOf(source), labelColumn: source.labelColumn, task: config.task },
        dataReadLimit(options),
      );
    case 'synthetic':
      return syntheticClassification(source);
  }
}

function selectionOf(source: TabularSource) {
  return { featureColumns: source.featureColumns, rows: source.rows, classes: source.classes, labelMap: source.labelMap };
}

export interface Splits {
  train: Dataset;
  validation: Dataset;
  test: Dataset;
}

export interface SplitOptions {
  train: number;
  validation: number;
  test: number;
  seed: number;
  stratify: boolean;
}

function splitSizes(rows: number, options: SplitOptions): { test: number; validation: number; train: number } {
  // A requested split gets at least one row, so that a small group is never silently left out of it.
  const test = options.test > 0 ? Math.max(1, Math.round(rows * options.test)) : 0;
  const validation = options.validation > 0 ? Math.max(1, Math.round(rows * options.validation)) : 0;
  return { test, validation, train: rows - test - validation };
}

function describeSplits(options: SplitOptions): string {
  const parts = [`train ${options.train}`, ...(options.validation > 0 ? [`validation ${options.validation}`] : []), `test ${options.test}`];
  return parts.join(', ');
}

/**
 * Refuses data that cannot fill every requested split: too few rows overall, or (classification)
 * classes with too few rows to appear in each split. A numeric label column with many values is
 * the usual cause: it was meant for regression.
 */
function assertSplittable(data: Dataset, options: SplitOptions, task: 'classification' | 'regression'): void {
  const needed = 1 + (options.validation > 0 ? 1 : 0) + (options.test > 0 ? 1 : 0);
  const rows = datasetSize(data);
  if (rows < needed) {
    throw new DataError(`${rows} rows are too few to fill the ${describeSplits(options)} splits: at least ${needed} are needed`);
  }
  if (task !== 'classification') return;
  const counts = new Array<number>(data.classLabels.length).fill(0);
  for (const label of data.y) counts[label]++;
  const rare = counts.filter((count) => count < needed);
  if (rare.length === 0) return;
  const numeric = data.classLabels.every((label) => label.trim() !== '' && Number.isFinite(Number(label)));
  // Counts only: the labels are the data file's content (see data-csv.ts).
  const smallest = rare.reduce((a, b) => Math.min(a, b));
  throw new DataError(
    `label column ${quoteName(data.targetName)} has ${data.classLabels.length} classes and ${rare.length} of them have fewer than ${needed} rows ` +
      `(the smallest has ${smallest}), too few to appear in each of the ${describeSplits(options)} splits; ` +
      (numeric
        ? 'its values are all numbers: did you mean "task": "regression"?'
        : 'merge or drop the rare classes, or set split.validation to 0'),
  );
}

/** Seeded split; with stratify, each class is split in the same proportions. Data that cannot fill a requested split is refused. */
export function splitDataset(data: Dataset, options: SplitOptions, task: 'classification' | 'regression'): Splits {
  assertSplittable(data, options, task);
  const rng = createRng(options.seed);
  const groups: number[][] = [];
  if (options.stratify && task === 'classification') {
    const byClass = new Map<number, number[]>();
    data.y.forEach((label, i) => {
      const list = byClass.get(label) ?? [];
      list.push(i);
      byClass.set(label, list);
    });
    for (const key of [...byClass.keys()].sort((a, b) => a - b)) groups.push(byClass.get(key)!);
  } else {
    groups.push(Array.from({ length: datasetSize(data) }, (_, i) => i));
  }
  const parts: Record<keyof Splits, number[]> = { train: [], validation: [], test: [] };
  for (const group of groups) {
    const order = permutation(group.length, rng);
    const sizes = splitSizes(group.length, options);
    order.forEach((o, k) => {
      const index = group[o];
      if (k < sizes.test) parts.test.push(index);
      else if (k < sizes.test + sizes.validation) parts.validation.push(index);
      else parts.train.push(index);
    });
  }
  for (const key of Object.keys(parts) as (keyof Splits)[]) parts[key].sort((a, b) => a - b);
  return {
    train: subset(data, parts.train),
    validation: subset(data, parts.validation),
    test: subset(data, parts.test),
  };
}
