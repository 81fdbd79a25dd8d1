// The rows `bnserve predict` scores, read from a CSV or JSONL file in batches of at most batchSize:
// the file is streamed (a batch at a time is in memory, whatever the file's size), each row becomes
// what the server's :predict takes as one instance (an array in feature order, or for JSONL an
// object keyed by feature name), and the row's id (when the file has an id column) rides beside it.
// Messages name the file, the 1-based data row and its line, and the column; they never quote the
// file's values beyond a shortened column name.
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import { DataError } from '../lib/data-error.ts';
import { openRegularFile, type ReadLimit, readChunks } from '../lib/regular-file.ts';
import { csvSyntaxError, isCsvParseError, PARSE_OPTIONS, quoteName } from '../train/data-csv.ts';

export const INPUT_FORMATS = ['csv', 'jsonl'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

/** No limit on the input's size: it is streamed. Only one record (CSV) or line (JSONL) is bounded. */
const NO_LIMIT: ReadLimit = { maxBytes: Number.POSITIVE_INFINITY };
/** The longest JSONL line read (the same bound as one CSV record). */
export const MAX_LINE_BYTES = PARSE_OPTIONS.max_record_size;

export interface InputBatch {
  /** Instances as the server's :predict takes them. */
  rows: unknown[];
  /** One per row (undefined: the row has none), or null when no row of the batch has an id. */
  ids: unknown[] | null;
  /** 1-based data row number of rows[0]. */
  firstRow: number;
  /** The file line each row ends on (JSONL), or null (CSV: found only for a row named in an error, see csvLineOfRow). */
  lines: number[] | null;
  /** Bytes of the file read so far (for the progress bar). */
  bytesRead: number;
}

/**
 * A row that cannot be scored: `data.csv: row 12 (line 13), column "x": not a finite number`. `row`
 * is the 1-based data row (the header is not a row); `line` is the file line it ends on, when known.
 */
export class RowError extends DataError {
  constructor(
    readonly file: string,
    readonly row: number,
    readonly line: number | undefined,
    /** ", column …: what" or ": what". */
    readonly detail: string,
  ) {
    super(`${file}: row ${row}${line === undefined ? '' : ` (line ${line})`}${detail}`);
  }

  withLine(line: number | undefined): RowError {
    return new RowError(this.file, this.row, line, this.detail);
  }
}

/** The RowError for row r of a batch. */
export function batchRowError(file: string, batch: InputBatch, r: number, detail: string): RowError {
  return new RowError(file, batch.firstRow + r, batch.lines?.[r], detail);
}

export interface InputLayout {
  /** The columns (CSV) whose values make a row, in the model's order. */
  featureColumns: string[];
  /** The id column, passed through to the output, or null. */
  idColumn: string | null;
  /** CSV columns that are neither features nor the id (the label column of a training file…). */
  ignoredColumns: string[];
}

export interface InputOptions {
  file: string;
  format: InputFormat;
  batchSize: number;
  /** The version's feature names (possibly empty: an imported model without them). */
  featureNames: readonly string[];
  /** Values per row: the product of the model's row shape. */
  rowWidth: number;
  /** --id-column; undefined: a column named "id" that is not a feature, when there is one. */
  idColumn?: string;
  /** Called once the layout is known (after a CSV's header; at once for JSONL). */
  onLayout?: (layout: InputLayout) => void;
}

export const DEFAULT_ID_COLUMN = 'id';

/** The format of an input file by its extension, else by its first character ({ or [: JSONL). */
export function inputFormatOf(file: string, firstByte: number | null): InputFormat {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return firstByte === 0x7b || firstByte === 0x5b ? 'jsonl' : 'csv';
}

/** Streams the rows of `options.file` in batches; the file is opened (regular files only) on the first pull. */
export async function* readBatches(options: InputOptions): AsyncGenerator<InputBatch> {
  const { handle } = await openRegularFile(options.file, NO_LIMIT);
  try {
    const chunks = readChunks(handle, options.file, NO_LIMIT);
    yield* options.format === 'csv' ? csvBatches(slices(chunks), options) : jsonlBatches(chunks, options);
  } finally {
    await handle.close();
  }
}

/** Bytes handed to the CSV parser at a time: it parses a whole piece into records at once. */
const PARSE_SLICE_BYTES = 64 * 1024;

/** The chunks in pieces of at most PARSE_SLICE_BYTES (views, no copies): the records parsed ahead of the batch being scored stay few. */
async function* slices(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    for (let start = 0; start < chunk.length; start += PARSE_SLICE_BYTES) yield chunk.subarray(start, start + PARSE_SLICE_BYTES);
  }
}

/** Collects rows into batches of at most `size`. */
class BatchBuilder {
  private rows: unknown[] = [];
  private ids: unknown[] = [];
  private lines: number[] | null;
  private firstRow = 1;
  rowCount = 0;

  private hasIds = false;

  constructor(
    private readonly size: number,
    private readonly withLines: boolean,
  ) {
    this.lines = withLines ? [] : null;
  }

  add(row: unknown, id: unknown, line?: number): boolean {
    this.rows.push(row);
    this.ids.push(id);
    if (id !== undefined) this.hasIds = true;
    this.lines?.push(line ?? 0);
    this.rowCount++;
    return this.rows.length >= this.size;
  }

  get empty(): boolean {
    return this.rows.length === 0;
  }

  take(bytesRead: number): InputBatch {
    const batch = { rows: this.rows, ids: this.hasIds ? this.ids : null, firstRow: this.firstRow, lines: this.lines, bytesRead };
    this.firstRow += this.rows.length;
    this.hasIds = false;
    this.rows = [];
    this.ids = [];
    this.lines = this.withLines ? [] : null;
    return batch;
  }
}

/** Which columns make a row, from the CSV header. */
export function csvLayout(header: readonly string[], options: Pick<InputOptions, 'file' | 'featureNames' | 'rowWidth' | 'idColumn'>) {
  const { file, featureNames, rowWidth } = options;
  const fail = (message: string): never => {
    throw new DataError(`${file}: ${message}`);
  };
  const duplicates = [...new Set(header.filter((name, i) => header.indexOf(name) !== i))];
  if (duplicates.length > 0)
    fail(`the header names ${duplicates.map(quoteName).join(', ')} more than once; every column needs its own name`);
  const byName = featureNames.length > 0 && featureNames.length === rowWidth;
  let idColumn: string | null = null;
  if (options.idColumn !== undefined) {
    if (!header.includes(options.idColumn)) fail(`id column ${quoteName(options.idColumn)} (--id-column) is not in the header`);
    if (byName && featureNames.includes(options.idColumn)) fail(`id column ${quoteName(options.idColumn)} is one of the model's features`);
    idColumn = options.idColumn;
  } else if (header.includes(DEFAULT_ID_COLUMN) && !(byName && featureNames.includes(DEFAULT_ID_COLUMN))) {
    idColumn = DEFAULT_ID_COLUMN;
  }
  let featureColumns: string[];
  if (byName) {
    const missing = featureNames.filter((name) => !header.includes(name));
    if (missing.length > 0) {
      fail(
        `no column for feature(s) ${missing.map(quoteName).join(', ')}; the header must name the model's features ` +
          `(${featureNames.map(quoteName).join(', ')}), in any order`,
      );
    }
    featureColumns = [...featureNames];
  } else {
    // No names to match (an imported model without them, or an image model): every other column, in file order.
    featureColumns = header.filter((name) => name !== idColumn);
    if (featureColumns.length !== rowWidth) {
      fail(
        `the model takes ${rowWidth} values per row and has no feature names to pick columns by; ` +
          `the file has ${featureColumns.length} column(s) besides the id`,
      );
    }
  }
  const ignoredColumns = header.filter((name) => name !== idColumn && !featureColumns.includes(name));
  return {
    featureColumns,
    idColumn,
    ignoredColumns,
    featureIndices: featureColumns.map((name) => header.indexOf(name)),
    idIndex: idColumn === null ? -1 : header.indexOf(idColumn),
  };
}

/** csv-parse as the trainer uses it, without its per-record info (a sixth of the time): lines are found only for an error. */
const CSV_OPTIONS = { ...PARSE_OPTIONS, info: false } as const;

async function* csvBatches(chunks: AsyncIterable<Buffer>, options: InputOptions): AsyncGenerator<InputBatch> {
  const parser = parse(CSV_OPTIONS);
  const fed = pipeline(chunks, parser);
  // A read error reaches the loop below through the parser; this only keeps the promise from being unhandled.
  fed.catch(() => {});
  let layout: ReturnType<typeof csvLayout> | null = null;
  const batch = new BatchBuilder(options.batchSize, false);
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (layout === null) {
        layout = csvLayout(record, options);
        options.onLayout?.({ featureColumns: layout.featureColumns, idColumn: layout.idColumn, ignoredColumns: layout.ignoredColumns });
        continue;
      }
      const { featureIndices, featureColumns } = layout;
      const values = new Array<number>(featureIndices.length);
      for (let j = 0; j < featureIndices.length; j++) {
        const cell = record[featureIndices[j]];
        // As the trainer reads numbers (src/train/data-csv.ts): trimmed, Number(), finite.
        const value = cell === '' ? Number.NaN : Number(cell);
        if (!Number.isFinite(value)) {
          const what = cell === '' ? 'empty, a number is needed' : 'not a finite number';
          throw new RowError(options.file, batch.rowCount + 1, undefined, `, column ${quoteName(featureColumns[j])}: ${what}`);
        }
        values[j] = value;
      }
      if (batch.add(values, layout.idIndex < 0 ? undefined : record[layout.idIndex])) yield batch.take(parser.info.bytes);
    }
  } catch (error) {
    if (isCsvParseError(error)) throw csvSyntaxError(error, options.file);
    throw error;
  } finally {
    parser.destroy();
  }
  await fed;
  if (layout === null) throw new DataError(`${options.file}: the file is empty (a header row is required)`);
  if (!batch.empty) yield batch.take(parser.info.bytes);
}

/** The line a CSV's data row (1-based) ends on, read again from the start (only for an error message); undefined if unknown. */
export async function csvLineOfRow(file: string, row: number): Promise<number | undefined> {
  try {
    const { handle } = await openRegularFile(file, NO_LIMIT);
    try {
      const parser = parse(PARSE_OPTIONS);
      const fed = pipeline(slices(readChunks(handle, file, NO_LIMIT)), parser);
      fed.catch(() => {});
      let seen = -1; // the header is record 0
      try {
        for await (const { info } of parser as AsyncIterable<{ info: { lines: number } }>) {
          if (++seen === row) return info.lines;
        }
      } finally {
        parser.destroy();
      }
    } finally {
      await handle.close();
    }
  } catch {
    // The message goes out without the line.
  }
  return undefined;
}

/**
 * The file's lines as strings (UTF-8, a BOM and CRs before LF dropped), each with its 1-based line
 * number; one line may be at most MAX_LINE_BYTES long, so a file without line breaks is refused
 * instead of buffered whole.
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer>,
  file: string,
): AsyncGenerator<{ text: string; line: number; bytesRead: number }> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let line = 0;
  let bytesRead = 0;
  const tooLong = () => new DataError(`${file}: line ${line + 1} is longer than ${MAX_LINE_BYTES} bytes`);
  const text = (bytes: Buffer) => {
    let s = bytes.toString('utf8');
    if (line === 1 && s.charCodeAt(0) === 0xfeff) s = s.slice(1);
    return s.endsWith('\r') ? s.slice(0, -1) : s;
  };
  for await (const chunk of chunks) {
    bytesRead += chunk.length;
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(0x0a, start);
      if (end < 0) break;
      const piece = chunk.subarray(start, end);
      if (pendingBytes + piece.length > MAX_LINE_BYTES) throw tooLong();
      const bytes = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
      pending = [];
      pendingBytes = 0;
      line++;
      yield { text: text(bytes), line, bytesRead };
      start = end + 1;
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      if (pendingBytes + rest.length > MAX_LINE_BYTES) throw tooLong();
      // Copied: readChunks may reuse nothing, but a subarray would pin the whole 1 MiB chunk.
      pending.push(Buffer.from(rest));
      pendingBytes += rest.length;
    }
  }
  if (pendingBytes > 0) {
    line++;
    yield { text: text(Buffer.concat(pending)), line, bytesRead };
  }
}

async function* jsonlBatches(chunks: AsyncIterable<Buffer>, options: InputOptions): AsyncGenerator<InputBatch> {
  const byName = options.featureNames.length > 0 && options.featureNames.length === options.rowWidth;
  if (options.idColumn !== undefined && byName && options.featureNames.includes(options.idColumn)) {
    throw new DataError(`${options.file}: id column ${quoteName(options.idColumn)} (--id-column) is one of the model's features`);
  }
  // A feature named "id" stays a feature; rows are the server's instances, an id is known row by row.
  const idColumn = options.idColumn ?? (byName && options.featureNames.includes(DEFAULT_ID_COLUMN) ? null : DEFAULT_ID_COLUMN);
  options.onLayout?.({ featureColumns: [...options.featureNames], idColumn, ignoredColumns: [] });
  const batch = new BatchBuilder(options.batchSize, true);
  let bytes = 0;
  for await (const { text, line, bytesRead } of splitLines(chunks, options.file)) {
    bytes = bytesRead;
    if (text.trim() === '') continue;
    const rowNumber = batch.rowCount + 1;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new RowError(options.file, rowNumber, line, ': not valid JSON (one JSON array or object per line)');
    }
    let id: unknown;
    if (idColumn !== null && value !== null && typeof value === 'object' && !Array.isArray(value) && Object.hasOwn(value, idColumn)) {
      const { [idColumn]: rowId, ...features } = value as Record<string, unknown>;
      if (rowId !== null && typeof rowId === 'object') {
        throw new RowError(options.file, rowNumber, line, `, field ${quoteName(idColumn)}: an id is a string, a number or null`);
      }
      id = rowId;
      value = features;
    }
    if (batch.add(value, id, line)) yield batch.take(bytes);
  }
  if (!batch.empty) yield batch.take(bytes);
}
