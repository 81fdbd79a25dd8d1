import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import type { Dataset } from './dataset.ts';

export class DataError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DataError';
  }
}

export interface CsvOptions {
  labelColumn: string;
  featureColumns?: string[];
  task: 'classification' | 'regression';
}

function parseNumber(cell: string, line: number, column: string, file: string): number {
  const trimmed = cell.trim();
  const value = trimmed === '' ? Number.NaN : Number(trimmed);
  if (!Number.isFinite(value)) {
    throw new DataError(`${file}: row ${line}, column "${column}": "${cell}" is not a finite number`);
  }
  return value;
}

/** Parses CSV text with a header row into a Dataset; `file` is only used in messages. */
export function datasetFromCsv(text: string, options: CsvOptions, file = 'CSV'): Dataset {
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, {
      bom: true,
      skip_empty_lines: true,
      trim: true,
      relax_column_count: false,
      info: true,
    }) as unknown as typeof parsed;
  } catch (error) {
    throw new DataError(`${file}: ${(error as Error).message}`);
  }
  if (parsed.length === 0) throw new DataError(`${file}: the file is empty (a header row and data rows are required)`);
  const header = parsed[0].record;
  const body = parsed.slice(1).map((p) => p.record);
  // The file's own line numbers, which stay right when blank lines are skipped.
  const lineOf = (r: number) => parsed[r + 1].info.lines;
  if (body.length === 0) throw new DataError(`${file}: no data rows after the header`);
  const duplicates = [...new Set(header.filter((name, i) => header.indexOf(name) !== i))];
  if (duplicates.length > 0) {
    throw new DataError(
      `${file}: the header names ${duplicates.map((d) => `"${d}"`).join(', ')} more than once; every column needs its own name`,
    );
  }

  const labelIndex = header.indexOf(options.labelColumn);
  if (labelIndex < 0) {
    throw new DataError(`${file}: label column "${options.labelColumn}" not found; columns are ${header.join(', ')}`);
  }
  const featureNames = options.featureColumns ?? header.filter((_, i) => i !== labelIndex);
  const featureIndices = featureNames.map((name) => {
    const index = header.indexOf(name);
    if (index < 0) throw new DataError(`${file}: feature column "${name}" not found; columns are ${header.join(', ')}`);
    if (index === labelIndex) throw new DataError(`${file}: "${name}" is both a feature and the label`);
    return index;
  });
  if (featureIndices.length === 0) throw new DataError(`${file}: no feature columns`);

  const x = new Float32Array(body.length * featureIndices.length);
  const y = new Float32Array(body.length);
  const rawLabels: string[] = [];
  body.forEach((row, r) => {
    const line = lineOf(r);
    featureIndices.forEach((col, f) => {
      x[r * featureIndices.length + f] = parseNumber(row[col], line, header[col], file);
    });
    const label = row[labelIndex];
    if (label === '') throw new DataError(`${file}: row ${line}, column "${options.labelColumn}": empty label`);
    if (options.task === 'regression') y[r] = parseNumber(label, line, options.labelColumn, file);
    else rawLabels.push(label);
  });

  let classLabels: string[] = [];
  if (options.task === 'classification') {
    classLabels = [...new Set(rawLabels)].sort();
    if (classLabels.length < 2) throw new DataError(`${file}: classification needs at least 2 classes, found ${classLabels.length}`);
    const index = new Map(classLabels.map((label, i) => [label, i]));
    rawLabels.forEach((label, r) => {
      y[r] = index.get(label)!;
    });
  }
  return {
    x,
    y,
    inputShape: [featureIndices.length],
    featureNames,
    classLabels,
    targetName: options.labelColumn,
  };
}

export async function loadCsvDataset(file: string, options: CsvOptions): Promise<Dataset> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DataError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return datasetFromCsv(text, options, file);
}
