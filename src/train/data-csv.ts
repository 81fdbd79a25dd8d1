// CSV (a header row, then one sample per row) into a Dataset, one record at a time: a file is
// streamed, so one up to the data size limit never becomes a single string. Messages name the file,
// the row and the column, and never quote the file's content beyond a (shortened) header name: the
// file may be anything a config names, and the message may reach someone who cannot read the file.
import { pipeline } from 'node:stream/promises';
import { CsvError, parse } from 'csv-parse';
import { CsvError as SyncCsvError, parse as parseSync } from 'csv-parse/sync';
import { DataError } from '../lib/data-error.ts';
import { openRegularFile, type ReadLimit, readChunks } from '../lib/regular-file.ts';
import type { Dataset } from './dataset.ts';

export { DataError } from '../lib/data-error.ts';

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

export const PARSE_OPTIONS = {
  bom: true,
  skip_empty_lines: true,
  trim: true,
  relax_column_count: false,
  info: true,
  // Bounds one record's memory: a file without line breaks is refused instead of buffered whole.
  max_record_size: 16 * 1024 * 1024,
} as const;

const MAX_NAME_CHARS = 64;
const MAX_LISTED_COLUMNS = 20;

/** A column name as a message shows it: quoted, escaped, at most 64 characters. */
export function quoteName(name: string): string {
  return JSON.stringify(name.length > MAX_NAME_CHARS ? `${name.slice(0, MAX_NAME_CHARS)}…` : name);
}

function listColumns(header: string[]): string {
  const shown = header.slice(0, MAX_LISTED_COLUMNS).map(quoteName).join(', ');
  return header.length > MAX_LISTED_COLUMNS ? `${shown} and ${header.length - MAX_LISTED_COLUMNS} more` : shown;
}

/** The header's names, unless it has one column only: then its one "name" is the whole first line. */
function describeHeader(header: string[]): string {
  return header.length > 1 ? `columns are ${listColumns(header)}` : 'its first line has no commas: not a CSV file with a header row';
}

/** csv-parse's sync and stream builds each have their own CsvError class. */
export function isCsvParseError(error: unknown): error is CsvError {
  return error instanceof CsvError || error instanceof SyncCsvError;
}

/** csv-parse's messages can quote the file (a value, a character): ours say where and what only. */
export function csvSyntaxError(error: CsvError, file: string): DataError {
  const line = (error as CsvError & { lines?: number }).lines;
  const at = line === undefined ? '' : ` at line ${line}`;
  const what: Partial<Record<string, string>> = {
    CSV_RECORD_INCONSISTENT_FIELDS_LENGTH: 'a row has a different number of columns than the header',
    CSV_QUOTE_NOT_CLOSED: 'a quoted field is never closed',
    CSV_MAX_RECORD_SIZE: `a row is longer than ${PARSE_OPTIONS.max_record_size} characters`,
    CSV_INVALID_CLOSING_QUOTE: 'a quoted field is followed by something other than a delimiter',
    CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: 'a quoted field is followed by something other than a delimiter',
    INVALID_OPENING_QUOTE: 'a quote inside an unquoted field',
  };
  return new DataError(`${file}: not a valid CSV file: ${what[error.code] ?? error.code}${at}`);
}

/** A growable Float32Array: the rows' values are stored as they are read. */
class FloatColumn {
  private values: Float32Array;
  length = 0;
  constructor(capacity = 1024) {
    this.values = new Float32Array(capacity);
  }
  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float32Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }
  set(index: number, value: number): void {
    this.values[index] = value;
  }
  get(index: number): number {
    return this.values[index];
  }
  toArray(): Float32Array {
    return this.values.slice(0, this.length);
  }
}

/** Builds a Dataset from a CSV's records, the header first; `file` is only used in messages. */
class CsvDatasetBuilder {
  private header: string[] | null = null;
  private labelIndex = -1;
  private featureIndices: number[] = [];
  private featureNames: string[] = [];
  private dataRows = 0;
  private readonly x = new FloatColumn();
  private readonly y = new FloatColumn();
  /** Classification: each label's index in first-seen order (sorted in finish()). */
  private readonly labelOrder = new Map<string, number>();
  private readonly mappedLabels = new Map<string, number>();
  private readonly wantedClasses: ReadonlySet<string> | null;
  private readonly foundClasses = new Set<string>();

  constructor(
    private readonly options: CsvOptions,
    private readonly file: string,
  ) {
    this.wantedClasses = options.classes ? new Set(options.classes) : null;
  }

  add(record: string[], line: number): void {
    if (this.header === null) this.readHeader(record);
    else this.addRow(record, line);
  }

  private fail(message: string): never {
    throw new DataError(`${this.file}: ${message}`);
  }

  private readHeader(header: string[]): void {
    this.header = header;
    const duplicates = [...new Set(header.filter((name, i) => header.indexOf(name) !== i))];
    if (duplicates.length > 0) {
      this.fail(`the header names ${listColumns(duplicates)} more than once; every column needs its own name`);
    }
    const { labelColumn, featureColumns } = this.options;
    this.labelIndex = header.indexOf(labelColumn);
    if (this.labelIndex < 0) this.fail(`label column ${quoteName(labelColumn)} not found; ${describeHeader(header)}`);
    this.featureNames = featureColumns ?? header.filter((_, i) => i !== this.labelIndex);
    this.featureIndices = this.featureNames.map((name) => {
      const index = header.indexOf(name);
      if (index < 0) this.fail(`feature column ${quoteName(name)} not found; ${describeHeader(header)}`);
      if (index === this.labelIndex) this.fail(`${quoteName(name)} is both a feature and the label`);
      return index;
    });
    if (this.featureIndices.length === 0) this.fail('no feature columns');
  }

  private inSelectedRows(row: number): boolean {
    const { start = 0, end = Number.POSITIVE_INFINITY } = this.options.rows ?? {};
    return row >= start && row < end;
  }

  private addRow(record: string[], line: number): void {
    const row = this.dataRows++;
    if (!this.inSelectedRows(row)) return;
    const label = record[this.labelIndex];
    if (this.wantedClasses) {
      if (!this.wantedClasses.has(label)) return;
      this.foundClasses.add(label);
    }
    const header = this.header!;
    for (const col of this.featureIndices) this.x.push(this.number(record[col], line, header[col]));
    const { labelColumn, labelMap, task } = this.options;
    if (label === '') this.fail(`row ${line}, column ${quoteName(labelColumn)}: empty label`);
    if (labelMap) {
      const value = Object.hasOwn(labelMap, label) ? labelMap[label] : labelMap['*'];
      if (value === undefined) {
        this.fail(
          `row ${line}: its label (column ${quoteName(labelColumn)}) is not in labelMap (add it, or a "*" entry for every other label)`,
        );
      }
      this.y.push(value);
      this.mappedLabels.set(label, value);
    } else if (task === 'regression') {
      this.y.push(this.number(label, line, labelColumn));
    } else {
      let index = this.labelOrder.get(label);
      if (index === undefined) {
        index = this.labelOrder.size;
        this.labelOrder.set(label, index);
      }
      this.y.push(index);
    }
  }

  private number(cell: string, line: number, column: string): number {
    const trimmed = cell.trim();
    if (trimmed === '') this.fail(`row ${line}, column ${quoteName(column)}: empty, a number is needed`);
    const value = Number(trimmed);
    if (!Number.isFinite(value)) this.fail(`row ${line}, column ${quoteName(column)}: not a finite number`);
    return value;
  }

  finish(): Dataset {
    if (this.header === null) this.fail('the file is empty (a header row and data rows are required)');
    if (this.dataRows === 0) this.fail('no data rows after the header');
    const { rows, classes, labelColumn, task } = this.options;
    const start = rows?.start ?? 0;
    const end = rows?.end ?? this.dataRows;
    if (end > this.dataRows || start >= end) {
      this.fail(`rows ${start}..${end} (end exclusive) do not fit its ${this.dataRows} data rows`);
    }
    const missing = (classes ?? []).filter((c) => !this.foundClasses.has(c));
    if (missing.length > 0) {
      this.fail(
        `class(es) ${missing.map(quoteName).join(', ')} not found in column ${quoteName(labelColumn)}` +
          `${rows ? ` within rows ${start}..${end}` : ''}`,
      );
    }
    if (this.y.length === 0) this.fail('no rows left after the row and class selection');

    let classLabels: string[] = [];
    if (task === 'classification') {
      classLabels = [...this.labelOrder.keys()].sort();
      if (classLabels.length < 2) this.fail(`classification needs at least 2 classes, found ${classLabels.length}`);
      const sortedIndex = new Map(classLabels.map((label, i) => [this.labelOrder.get(label)!, i]));
      for (let r = 0; r < this.y.length; r++) this.y.set(r, sortedIndex.get(this.y.get(r))!);
    }
    return {
      x: this.x.toArray(),
      y: this.y.toArray(),
      inputShape: [this.featureIndices.length],
      featureNames: this.featureNames,
      classLabels,
      targetName: labelColumn,
      ...(this.options.labelMap ? { signClasses: signClassesOf(this.mappedLabels) } : {}),
    };
  }
}

/** Labels mapped to exactly −1 and +1 make a binary linear classifier (predict by sign); anything else does not. */
function signClassesOf(values: Map<string, number>): { negative: string; positive: string } | undefined {
  const negative = [...values].filter(([, v]) => v === -1).map(([label]) => label);
  const positive = [...values].filter(([, v]) => v === 1).map(([label]) => label);
  if (negative.length === 0 || positive.length === 0 || negative.length + positive.length !== values.size) return undefined;
  return { negative: negative.join(' + '), positive: positive.join(' + ') };
}

interface CsvRecord {
  record: string[];
  info: { lines: number };
}

/** Parses CSV text with a header row into a Dataset; `file` is only used in messages. */
export function datasetFromCsv(text: string, options: CsvOptions, file = 'CSV'): Dataset {
  const builder = new CsvDatasetBuilder(options, file);
  let records: CsvRecord[];
  try {
    records = parseSync(text, PARSE_OPTIONS) as unknown as CsvRecord[];
  } catch (error) {
    if (isCsvParseError(error)) throw csvSyntaxError(error, file);
    throw error;
  }
  for (const { record, info } of records) builder.add(record, info.lines);
  return builder.finish();
}

/** Streams a CSV file (a regular file within `limit`, see readRegularFile) into a Dataset. */
export async function loadCsvDataset(file: string, options: CsvOptions, limit: ReadLimit): Promise<Dataset> {
  const builder = new CsvDatasetBuilder(options, file);
  const { handle } = await openRegularFile(file, limit);
  try {
    await pipeline(readChunks(handle, file, limit), parse(PARSE_OPTIONS), async (records: AsyncIterable<CsvRecord>) => {
      for await (const { record, info } of records) builder.add(record, info.lines);
    });
  } catch (error) {
    if (isCsvParseError(error)) throw csvSyntaxError(error, file);
    throw error;
  } finally {
    await handle.close();
  }
  return builder.finish();
}
