import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TrainConfig } from './config.ts';
import type { Dataset } from './dataset.ts';
import { datasetSize, subset } from './dataset.ts';
import { loadCsvDataset } from './data-csv.ts';
import { syntheticClassification } from './data-synthetic.ts';
import { createRng, permutation } from './rng.ts';

/** Iris as shipped in examples/data (a transcription of scikit-learn's copy; see examples/data/README.md). */
export const IRIS_CSV = fileURLToPath(new URL('../../examples/data/iris.csv', import.meta.url));

export async function loadDataset(config: TrainConfig): Promise<Dataset> {
  const source = config.data;
  switch (source.kind) {
    case 'iris':
      return loadCsvDataset(IRIS_CSV, { labelColumn: 'species', task: 'classification' });
    case 'csv':
      return loadCsvDataset(path.resolve(source.path), {
        labelColumn: source.labelColumn,
        featureColumns: source.featureColumns,
        task: config.task,
      });
    case 'synthetic':
      return syntheticClassification(source);
  }
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

/** Seeded split; with stratify, each class is split in the same proportions. */
export function splitDataset(data: Dataset, options: SplitOptions, task: 'classification' | 'regression'): Splits {
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
    const nTest = Math.round(group.length * options.test);
    const nValidation = Math.round(group.length * options.validation);
    order.forEach((o, k) => {
      const index = group[o];
      if (k < nTest) parts.test.push(index);
      else if (k < nTest + nValidation) parts.validation.push(index);
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
