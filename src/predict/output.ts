// What `bnserve predict` writes: one line per input row, in input order, as CSV (a header, then
// id?, label, p_<label>… for classifiers; id?, prediction or prediction_0…k for regression) or as
// JSONL (the server's :predict predictions, {"id"?, "label", "probabilities"} or {"id"?, "prediction"}),
// written to a temp file beside --output that is renamed into place only when every row is done.
import { once } from 'node:events';
import { createWriteStream, rmSync, type WriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { finished } from 'node:stream/promises';
import path from 'node:path';
import { DataError } from '../lib/data-error.ts';
import { publishTempFile } from '../lib/durable-fs.ts';
import { tempPathFor } from '../lib/temp-files.ts';
import type { ClassPrediction, RegressionPrediction } from '../serve/dataplane/predictions.ts';
import { batchRowError, type InputBatch } from './input.ts';
import type { Prediction } from './scorer.ts';

export const OUTPUT_FORMATS = ['csv', 'jsonl'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** The output format from --output's extension, else `fallback` (the input's format). */
export function outputFormatOf(file: string, fallback: OutputFormat): OutputFormat {
  const lower = file.toLowerCase();
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  return fallback;
}

/** A CSV field: quoted (quotes doubled) when it holds a delimiter, a quote, a line break or edge spaces. */
export function csvField(text: string): string {
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function idText(id: unknown): string {
  if (id === undefined || id === null) return '';
  return typeof id === 'string' ? id : JSON.stringify(id);
}

export interface WriterOptions {
  format: OutputFormat;
  task: 'classification' | 'regression';
  /** The version's class labels (classification). */
  classLabels: readonly string[];
  /** Values per row of the prediction output when fixed (classes, or regression outputs); null when dynamic. */
  outputWidth: number | null;
  /** The input's id column name, or null when it has none. */
  idColumn: string | null;
  /** Whether every row has an id column (CSV input, or --id-column given); else the first rows decide. */
  idAlways: boolean;
  /** The input file, for messages. */
  file: string;
}

/** Turns predictions into text, batch by batch; the CSV header comes with the first batch (or at the end for no rows). */
interface Columns {
  /** Whether the id column is written. */
  id: boolean;
  /** Class names in output order (classification), else null. */
  classes: string[] | null;
  /** The CSV columns after the id. */
  names: string[];
}

/** Turns predictions into text, batch by batch; the CSV header comes with the first batch (or at the end for no rows). */
export class PredictionWriter {
  private columns: Columns | null = null;

  constructor(private readonly options: WriterOptions) {}

  /** The column layout, fixed by the first batch (or by the model when there are no rows). */
  private layout(first: Prediction | undefined, ids: unknown[] | null): Columns {
    if (this.columns) return this.columns;
    const o = this.options;
    const id = o.idColumn !== null && (o.idAlways || ids !== null);
    let classes: string[] | null = null;
    let names: string[];
    if (o.task === 'classification') {
      const count = first ? Object.keys((first as ClassPrediction).probabilities).length : (o.outputWidth ?? o.classLabels.length);
      // As classPredictions names them: the labels when they match the outputs, else the class indices.
      classes = o.classLabels.length === count ? [...o.classLabels] : Array.from({ length: count }, (_, k) => String(k));
      names = ['label', ...classes.map((c) => `p_${c}`)];
    } else {
      const p = first ? (first as RegressionPrediction).prediction : null;
      const width = p === null ? (o.outputWidth ?? 1) : Array.isArray(p) ? p.length : 1;
      names = width === 1 ? ['prediction'] : Array.from({ length: width }, (_, k) => `prediction_${k}`);
    }
    const taken = o.format === 'csv' ? names : classes ? ['label', 'probabilities'] : ['prediction'];
    if (o.idColumn !== null && (id || o.format === 'jsonl') && taken.includes(o.idColumn)) {
      throw new DataError(
        `${o.file}: the id column ${JSON.stringify(o.idColumn)} has the name of an output ${o.format === 'csv' ? 'column' : 'field'}; rename it`,
      );
    }
    this.columns = { id, classes, names };
    return this.columns;
  }

  /** The CSV header line (with its newline). */
  private header(): string {
    const { id, names } = this.columns!;
    return `${(id ? [this.options.idColumn!, ...names] : names).map(csvField).join(',')}\n`;
  }

  /** The text for one scored batch. */
  batch(predictions: Prediction[], batch: InputBatch): string {
    const first = this.columns === null;
    const columns = this.layout(predictions[0], batch.ids);
    if (this.options.format === 'jsonl') {
      // Each line carries its own row's id, when it has one.
      const idName = this.options.idColumn!;
      const out = new Array<string>(predictions.length);
      for (let r = 0; r < predictions.length; r++) {
        const id = batch.ids?.[r];
        out[r] = `${JSON.stringify(id === undefined ? predictions[r] : { [idName]: id, ...predictions[r] })}\n`;
      }
      return out.join('');
    }
    if (!columns.id && batch.ids !== null) {
      const r = batch.ids.findIndex((id) => id !== undefined);
      throw batchRowError(
        this.options.file,
        batch,
        r,
        `: has an id (${JSON.stringify(this.options.idColumn)}) but the first rows had none; give --id-column ${this.options.idColumn} to write an id column`,
      );
    }
    let out = first ? this.header() : '';
    const ids = columns.id ? batch.ids : null;
    const classes = columns.classes;
    for (let r = 0; r < predictions.length; r++) {
      let line = ids ? `${csvField(idText(ids[r]))},` : '';
      if (classes) {
        const p = predictions[r] as ClassPrediction;
        line += csvField(p.label);
        for (const c of classes) line += `,${p.probabilities[c]}`;
      } else {
        const v = (predictions[r] as RegressionPrediction).prediction;
        line += Array.isArray(v) ? v.join(',') : String(v);
      }
      out += `${line}\n`;
    }
    return out;
  }

  /** What is left to write once every batch is done: the CSV header when there were no rows. */
  end(): string {
    if (this.columns !== null) return '';
    this.layout(undefined, null);
    return this.options.format === 'csv' ? this.header() : '';
  }
}

/**
 * A file written as a stream into a temp file beside `target` (same folder, so the rename is
 * atomic), fsynced when it ends, and put in place by commit(): readers never see half of it, and
 * abort() (any failure), Ctrl-C or a SIGTERM (a Job's deadline) leave nothing behind.
 */
export class AtomicOutputFile {
  private closed = false;
  private stream: WriteStream | null = null;
  private readonly removeSignalHandlers: () => void;

  private constructor(
    readonly target: string,
    readonly temp: string,
  ) {
    // Before the file exists: a signal at any moment finds the handlers in place.
    this.removeSignalHandlers = removeOnSignal(temp);
  }

  static async create(target: string): Promise<AtomicOutputFile> {
    await mkdir(path.dirname(target), { recursive: true });
    const file = new AtomicOutputFile(target, tempPathFor(target));
    try {
      const stream = createWriteStream(file.temp, { flags: 'wx', mode: 0o644, flush: true, highWaterMark: 1024 * 1024 });
      file.stream = stream;
      await Promise.race([once(stream, 'open'), once(stream, 'error').then(([error]) => Promise.reject(error))]);
    } catch (error) {
      await file.abort();
      throw error;
    }
    return file;
  }

  /** Writes text, waiting while the stream's buffer is full (backpressure). */
  async write(text: string): Promise<void> {
    const stream = this.stream!;
    if (text.length === 0) return;
    if (!stream.write(text)) await Promise.race([once(stream, 'drain'), once(stream, 'error')]);
  }

  /**
   * Ends the stream (the data is fsynced before the file is closed), then puts the file in place:
   * renamed over the target with `replace`, else linked, which refuses ('exists') a target that appeared meanwhile.
   */
  async commit(replace: boolean): Promise<'created' | 'exists'> {
    const stream = this.stream!;
    stream.end();
    await finished(stream);
    this.closed = true;
    try {
      return await publishTempFile(this.temp, this.target, { replace });
    } finally {
      await rm(this.temp, { force: true });
      this.removeSignalHandlers();
    }
  }

  /** Stops writing and removes the temp file. */
  async abort(): Promise<void> {
    if (!this.closed && this.stream) {
      this.closed = true;
      this.stream.destroy();
      await finished(this.stream).catch(() => {});
    }
    await rm(this.temp, { force: true });
    this.removeSignalHandlers();
  }
}

/** On SIGINT or SIGTERM: removes `file`, then exits 130 or 143 (as a shell reports the signal). Returns the handlers' remover. */
function removeOnSignal(file: string): () => void {
  const removers = (['SIGINT', 'SIGTERM'] as const).map((signal) => {
    const handler = () => {
      try {
        rmSync(file, { force: true }); // synchronous: the process exits right after
      } finally {
        process.exit(signal === 'SIGINT' ? 130 : 143);
      }
    };
    process.once(signal, handler);
    return () => process.removeListener(signal, handler);
  });
  return () => {
    for (const remove of removers) remove();
  };
}
