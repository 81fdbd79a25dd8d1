// `bnserve predict NAME[:VERSION|@ALIAS] --input FILE --output FILE [--format csv|jsonl] [--batch-size N]`:
// scores a file of rows with a registered version, as the server would answer them (src/predict).
// Everything that can be checked is checked before the registry is opened (the model argument, the
// input file, --output); the registry is closed again before the rows are scored.
import path from 'node:path';
import { ConfigError } from '../lib/errors.ts';
import type { ModelVersionRecord, Registry } from '../registry/types.ts';
import type { InputFormat, ModelRef, OutputFormat, PredictFileOptions } from '../predict/index.ts';
import { assertOutWritable, type OutOption, outExistsMessage } from './export.ts';

export interface PredictCommandOptions {
  input: string;
  output: string;
  /** Output format (default: from --output's extension, else the input's format). */
  format?: OutputFormat;
  /** Input format (default: from --input's extension, else its first character). */
  inputFormat?: InputFormat;
  batchSize?: number;
  idColumn?: string;
  force?: boolean;
  /** false with --no-progress. */
  progress?: boolean;
}

/** What the arguments resolve to: the model reference and the file options (paths absolute). */
export type PredictPlan = { ref: ModelRef } & Omit<PredictFileOptions, 'onExists'>;

const OUTPUT_OPTION: OutOption = { option: '--output', example: 'predictions.csv', what: 'the output file' };

/** Checks the arguments and the files (ConfigError/DataError: exit 2) before the registry is opened. */
export async function preparePredict(model: string, options: PredictCommandOptions): Promise<PredictPlan> {
  const { DEFAULT_BATCH_SIZE, detectInputFormat, outputFormatOf, parseModelRef } = await import('../predict/index.ts');
  const ref = parseModelRef(model);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isSafeInteger(batchSize) || batchSize < 1) throw new ConfigError(`--batch-size ${batchSize}: expected a positive integer`);
  if (options.idColumn !== undefined && options.idColumn.length === 0) throw new ConfigError('--id-column: expected a column name');
  const input = path.resolve(options.input);
  const output = path.resolve(options.output);
  if (input === output) throw new ConfigError(`--output ${options.output} is the --input file; write the predictions to another file`);
  const inputFormat = await detectInputFormat(input, options.inputFormat);
  const force = options.force === true;
  await assertOutWritable(output, force, OUTPUT_OPTION);
  return {
    ref,
    input,
    output,
    inputFormat,
    format: options.format ?? outputFormatOf(output, inputFormat),
    batchSize,
    idColumn: options.idColumn,
    force,
    progress: options.progress !== false,
  };
}

export interface PredictModel {
  record: ModelVersionRecord;
  /** The artifact's bytes, sha256-checked against the registry row. */
  artifact: Uint8Array;
}

/** The version named by the plan and its artifact (RegistryError: exit 4 for a missing model, version or alias, or a bad artifact). */
export async function loadPredictModel(registry: Registry, plan: PredictPlan, env: NodeJS.ProcessEnv = process.env): Promise<PredictModel> {
  const { resolveModelRef } = await import('../predict/index.ts');
  const { serveConfigFromEnv } = await import('../serve/config.ts');
  const record = await resolveModelRef(registry, plan.ref, serveConfigFromEnv(env).defaultAlias);
  return { record, artifact: await registry.readArtifact(record) };
}

export interface PredictResult {
  name: string;
  version: number;
  task: string;
  input: string;
  output: string;
  inputFormat: InputFormat;
  format: OutputFormat;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  batchSize: number;
  provider: string;
  idColumn: string | null;
  ignoredColumns: string[];
}

/** Loads the version as the server does and scores the input into --output. */
export async function runPredict(plan: PredictPlan, model: PredictModel, env: NodeJS.ProcessEnv = process.env): Promise<PredictResult> {
  const { predictFile, Scorer } = await import('../predict/index.ts');
  const { serveConfigFromEnv } = await import('../serve/config.ts');
  // Checked again: the registry may have taken a while.
  await assertOutWritable(plan.output, plan.force, OUTPUT_OPTION);
  const scorer = await Scorer.load(model.record, model.artifact, {
    config: serveConfigFromEnv(env),
    batchSize: plan.batchSize,
    onProviderFallback: (message) => process.stderr.write(`bnserve: ${firstLine(message)}\n`),
  });
  try {
    const result = await predictFile(scorer, {
      ...plan,
      onExists: () => new ConfigError(outExistsMessage(plan.output, OUTPUT_OPTION)),
    });
    return {
      name: model.record.name,
      version: model.record.version,
      task: model.record.task,
      input: plan.input,
      output: plan.output,
      inputFormat: plan.inputFormat,
      format: plan.format,
      rows: result.rows,
      seconds: result.seconds,
      rowsPerSecond: result.rowsPerSecond,
      batchSize: plan.batchSize,
      provider: scorer.provider,
      idColumn: result.idColumn,
      ignoredColumns: result.ignoredColumns,
    };
  } finally {
    await scorer.close();
  }
}

function firstLine(text: string): string {
  const line = text.split('\n')[0];
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/** The human summary. */
export function describePredict(r: PredictResult): string {
  const rate = r.rowsPerSecond >= 100 ? Math.round(r.rowsPerSecond).toLocaleString('en-US') : r.rowsPerSecond.toFixed(1);
  const lines = [
    `wrote ${r.rows} prediction(s) of ${r.name} version ${r.version} to ${r.output} (${r.format}) in ${r.seconds.toFixed(2)} s, ` +
      `${rate} rows/s (${r.provider})`,
  ];
  if (r.idColumn !== null) lines.push(`id column: ${JSON.stringify(r.idColumn)}`);
  if (r.ignoredColumns.length > 0) lines.push(`ignored column(s): ${r.ignoredColumns.map((c) => JSON.stringify(c)).join(', ')}`);
  return lines.join('\n');
}
