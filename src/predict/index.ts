// `bnserve predict`'s domain: a file of rows in, a file of the server's answers out. The input is
// streamed in batches (input.ts), each batch scored by the version's onnxruntime session as the server
// scores a :predict request (scorer.ts), and written in order (output.ts) to a temp file that becomes
// --output only when every row succeeded: memory stays at a batch, whatever the file's size, and a
// bad row leaves nothing behind but an error naming it.
import { open, stat } from 'node:fs/promises';
import { checkRegularFile } from '../lib/regular-file.ts';
import { csvLineOfRow, type InputFormat, type InputLayout, inputFormatOf, RowError, readBatches } from './input.ts';
import { AtomicOutputFile, type OutputFormat, PredictionWriter } from './output.ts';
import { createPredictProgress } from './progress.ts';
import type { Scorer } from './scorer.ts';

export { INPUT_FORMATS, type InputFormat } from './input.ts';
export { OUTPUT_FORMATS, type OutputFormat, outputFormatOf } from './output.ts';
export { type ModelRef, parseModelRef, resolveModelRef } from './model-ref.ts';
export { Scorer, type ScorerOptions } from './scorer.ts';

/** Rows per onnxruntime run unless --batch-size says otherwise. */
export const DEFAULT_BATCH_SIZE = 1024;

/** The input's format: --input-format, else its extension, else its first byte ({ or [: JSONL). */
export async function detectInputFormat(file: string, given?: InputFormat): Promise<InputFormat> {
  await checkRegularFile(file, { maxBytes: Number.POSITIVE_INFINITY });
  if (given) return given;
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(64);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    const text = buffer
      .subarray(0, bytesRead)
      .toString('latin1')
      .replace(/^\xEF\xBB\xBF/, ''); // a UTF-8 byte order mark, read as latin1
    const first = text.trimStart();
    return inputFormatOf(file, first.length > 0 ? first.charCodeAt(0) : null);
  } finally {
    await handle.close();
  }
}

export interface PredictFileOptions {
  /** Absolute paths. */
  input: string;
  output: string;
  inputFormat: InputFormat;
  format: OutputFormat;
  batchSize: number;
  idColumn?: string;
  /** Replace an existing output file (else one that appeared while scoring is refused). */
  force: boolean;
  /** Show the progress bar (when stderr is a terminal). */
  progress: boolean;
  /** Called when the output must be refused because it appeared while scoring. */
  onExists: () => Error;
}

export interface PredictFileResult {
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  idColumn: string | null;
  ignoredColumns: string[];
}

/** Scores every row of options.input into options.output (atomically: all rows or no file). */
export async function predictFile(scorer: Scorer, options: PredictFileOptions): Promise<PredictFileResult> {
  const started = performance.now();
  const record = scorer.record;
  let layout: InputLayout = { featureColumns: [], idColumn: null, ignoredColumns: [] };
  let writer: PredictionWriter | null = null;
  const writerFor = () =>
    new PredictionWriter({
      format: options.format,
      task: record.task === 'classification' ? 'classification' : 'regression',
      classLabels: record.classLabels,
      outputWidth: fixedWidth(scorer.outputInfo.shape),
      idColumn: layout.idColumn,
      idAlways: options.inputFormat === 'csv' || options.idColumn !== undefined,
      file: options.input,
    });
  const totalBytes = options.progress ? (await stat(options.input)).size : 0;
  const output = await AtomicOutputFile.create(options.output);
  const progress = createPredictProgress(totalBytes);
  let rows = 0;
  let sawIds = false;
  try {
    const batches = readBatches({
      file: options.input,
      format: options.inputFormat,
      batchSize: options.batchSize,
      featureNames: record.featureNames,
      rowWidth: scorer.rowWidth,
      idColumn: options.idColumn,
      onLayout: (l) => {
        layout = l;
      },
    });
    for await (const batch of batches) {
      const predictions = await scorer.score(batch, { file: options.input });
      writer ??= writerFor();
      await output.write(writer.batch(predictions, batch));
      rows += batch.rows.length;
      sawIds ||= batch.ids !== null;
      progress.update(batch.bytesRead, rows);
    }
    writer ??= writerFor();
    await output.write(writer.end());
    progress.stop();
    if ((await output.commit(options.force)) === 'exists') throw options.onExists();
  } catch (error) {
    progress.stop();
    await output.abort();
    if (error instanceof RowError && error.line === undefined && options.inputFormat === 'csv') {
      throw error.withLine(await csvLineOfRow(options.input, error.row));
    }
    throw error;
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    rows,
    seconds,
    rowsPerSecond: seconds > 0 ? rows / seconds : 0,
    idColumn: options.inputFormat === 'csv' || options.idColumn !== undefined || sawIds ? layout.idColumn : null,
    ignoredColumns: layout.ignoredColumns,
  };
}

/** Values per row of an output shape [batch, …] when fixed, else null. */
function fixedWidth(shape: readonly number[]): number | null {
  const dims = shape.slice(1);
  return dims.every((d) => d >= 0) ? dims.reduce((a, b) => a * b, 1) : null;
}
