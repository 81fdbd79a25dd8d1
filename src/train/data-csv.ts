import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import type { Dataset } from './dataset.ts';
import { BnserveError } from '../lib/errors.ts';

export class DataError extends BnserveError {
  constructor(message: string) {
    super('invalid_data', message);
  }
}

export interface CsvOptions {
  labelColumn: string;
  featureColumns?: string[];
  task: 'classification' | 'regression';
  /** 0-based data rows [start, end) to keep (applied before `classes`). */
  rows?: { start: number; end?: number };
  /** Keep only the rows with these labels. */
  classes?: string[];
  /** Label → numeric target ("*": every other label); makes a non-numeric label column a regression target. */
  labelMap?: Record<string, number>;
}

function selectRows(body: string[][], labelIndex: number, options: CsvOptions, file: string): number[] {
  const start = options.rows?.start ?? 0;
  const end = options.rows?.end ?? body.length;
  if (end > body.length || start >= end) {
    throw new DataError(`${file}: rows ${start}..${end} (end exclusive) do not fit its ${body.length} data rows`);
  }
  let kept = Array.from({ length: end - start }, (_, i) => start + i);
  if (options.classes) {
    const present = new Set(kept.map((r) => body[r][labelIndex]));
    const missing = options.classes.filter((c) => !present.has(c));
    if (missing.length > 0) {
      throw new DataError(
        `${file}: class(es) ${missing.map((m) => `"${m}"`).join(', ')} not found in column "${options.labelColumn}"` +
          `${options.rows ? ` within rows ${start}..${end}` : ''}; labels are ${[...present].sort().join(', ')}`,
      );
    }
    const wanted = new Set(options.classes);
    kept = kept.filter((r) => wanted.has(body[r][labelIndex]));
  }
  return kept;
}

function mappedLabel(label: string, map: Record<string, number>, line: number, file: string): number {
  const value = Object.hasOwn(map, label) ? map[label] : map['*'];
  if (value === undefined) {
    throw new DataError(`${file}: row ${line}: label "${label}" is not in labelMap (add it, or a "*" entry for every other label)`);
  }
  return value;
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
  const allRows = parsed.slice(1).map((p) => p.record);
  // The file's own line numbers, which stay right when blank lines are skipped.
  const allLineOf = (r: number) => parsed[r + 1].info.lines;
  if (parsed.length < 2) throw new DataError(`${file}: no data rows after the header`);
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
  const kept = selectRows(allRows, labelIndex, options, file);
  if (kept.length === 0) throw new DataError(`${file}: no rows left after the row and class selection`);
  const body = kept.map((r) => allRows[r]);
  const lineOf = (r: number) => allLineOf(kept[r]);
  const labelValues = new Map<string, number>();

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
    if (options.labelMap) {
      y[r] = mappedLabel(label, options.labelMap, line, file);
      labelValues.set(label, y[r]);
    } else if (options.task === 'regression') y[r] = parseNumber(label, line, options.labelColumn, file);
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
    ...(options.labelMap ? { signClasses: signClassesOf(labelValues) } : {}),
  };
}

/** Labels mapped to exactly −1 and +1 make a binary linear classifier (predict by sign); anything else does not. */
function signClassesOf(values: Map<string, number>): { negative: string; positive: string } | undefined {
  const negative = [...values].filter(([, v]) => v === -1).map(([label]) => label);
  const positive = [...values].filter(([, v]) => v === 1).map(([label]) => label);
  if (negative.length === 0 || positive.length === 0 || negative.length + positive.length !== values.size) return undefined;
  return { negative: negative.join(' + '), positive: positive.join(' + ') };
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
