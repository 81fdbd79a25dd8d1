// The server's answer for a batch of rows, computed in this process: the version is loaded exactly
// as the server loads it (LoadedVersion: execution providers with fallback, the registry row checked
// against the graph, a warm-up run), rows are decoded by rowsToTensor (arrays, or objects keyed by
// feature name), run through the same onnxruntime session, and formatted by classPredictions /
// regressionPredictions: what `POST /v1/models/{m}:predict` answers for the same rows. The
// standardisation is inside the exported graph, so raw features go in. What the server would refuse
// for a request is refused here for the row, named by its number in the file.
import { DataError } from '../lib/data-error.ts';
import { BnserveError } from '../lib/errors.ts';
import type { ModelVersionRecord } from '../registry/types.ts';
import { DEFAULT_BATCHING, ortSessionOptions, type ServeConfig } from '../serve/config.ts';
import { InvalidInputError } from '../serve/dataplane/errors.ts';
import { LoadedVersion, ModelLoadError, predictionOutput, type TensorInfo } from '../serve/dataplane/loaded-version.ts';
import {
  type ClassPrediction,
  classPredictions,
  type OutputValues,
  type RegressionPrediction,
  regressionPredictions,
} from '../serve/dataplane/predictions.ts';
import {
  type ExecutionProviderId,
  ProviderChain,
  type ProviderFailure,
  SessionCreateError,
  setOrtLogLevel,
} from '../serve/dataplane/providers.ts';
import { elementCount, firstNonFinite, rowsToTensor } from '../serve/dataplane/tensor-data.ts';
import { batchRowError, type InputBatch, type RowError } from './input.ts';

export type Prediction = ClassPrediction | RegressionPrediction;

export interface ScorerOptions {
  /** The serving configuration (providers, onnxruntime threads and spinning, log level). */
  config: Pick<ServeConfig, 'providers' | 'intraOpThreads' | 'ortSpinning' | 'ortLogLevel'>;
  /** Rows per onnxruntime run (the batches the input is read in). */
  batchSize: number;
  /** Called for each execution provider that could not be used before one that could. */
  onProviderFallback?: (message: string, failure: ProviderFailure) => void;
}

/** The input file's name, for messages. */
export interface ScoreContext {
  file: string;
}

export class Scorer {
  private constructor(
    private readonly loaded: LoadedVersion,
    private readonly output: TensorInfo,
  ) {}

  /** Loads `artifact` (already sha256-checked by the registry) as the server would. */
  static async load(record: ModelVersionRecord, artifact: Uint8Array, options: ScorerOptions): Promise<Scorer> {
    setOrtLogLevel(options.config.ortLogLevel);
    const providers = new ProviderChain(options.config.providers, options.onProviderFallback);
    let loaded: LoadedVersion;
    try {
      loaded = await LoadedVersion.load(record, artifact, providers, {
        // One run at a time on this thread: the file is read in order and answered in order.
        batching: { ...DEFAULT_BATCHING, enabled: false, instanceCount: 1, maxBatchSize: options.batchSize },
        sessionOptions: ortSessionOptions(options.config),
      });
    } catch (error) {
      if (error instanceof ModelLoadError || error instanceof SessionCreateError) {
        throw new BnserveError('model_load_failed', `model ${record.name} version ${record.version} cannot be loaded: ${error.message}`);
      }
      throw error;
    }
    if (!loaded.takesRows) {
      await loaded.retire();
      throw new BnserveError(
        'invalid_config',
        `model ${record.name} version ${record.version} has several inputs or a dynamic row shape; bnserve predict scores rows of one input ` +
          '(send such requests to POST /v2/models/{name}/infer)',
      );
    }
    return new Scorer(loaded, predictionOutput(record, loaded.outputs));
  }

  get record(): ModelVersionRecord {
    return this.loaded.record;
  }

  get provider(): ExecutionProviderId {
    return this.loaded.provider;
  }

  /** Values per row: the product of the model's row shape (4 for Iris). */
  get rowWidth(): number {
    return elementCount(this.loaded.rowShape);
  }

  /** The output :predict answers from: its name and shape ([-1, classes] or [-1, k]). */
  get outputInfo(): TensorInfo {
    return this.output;
  }

  /** The batch's predictions, in row order; a row the server would refuse is a DataError naming it. */
  async score(batch: InputBatch, context: ScoreContext): Promise<Prediction[]> {
    const v = this.loaded;
    const opts = { target: v.inputType, rowShape: v.rowShape, featureNames: v.record.featureNames };
    let data: ReturnType<typeof rowsToTensor>;
    try {
      data = rowsToTensor(batch.rows, opts);
    } catch (error) {
      if (error instanceof InvalidInputError) throw firstBadRow(batch, opts, context);
      throw error;
    }
    const result = await v.runRows(data, batch.rows.length);
    const values: OutputValues = result.outputs[this.output.name];
    const bad = firstNonFinite(values.data);
    if (bad >= 0) {
      const r = Math.floor(bad / Math.max(1, elementCount(values.shape.slice(1))));
      throw batchRowError(
        context.file,
        batch,
        r,
        `: the model produced a non-finite value in output "${this.output.name}"; check that the inputs are on the scale the model was trained on`,
      );
    }
    return v.record.task === 'classification' ? classPredictions(values, v.record.classLabels) : regressionPredictions(values);
  }

  /** Releases the onnxruntime session. */
  close(): Promise<void> {
    return this.loaded.retire();
  }
}

/**
 * The first row of a batch that rowsToTensor refuses, decoded alone (only after the whole batch
 * failed), as a DataError: `file: row N (line L), feature "x": expected a number, got string "…"`.
 */
function firstBadRow(batch: InputBatch, opts: Parameters<typeof rowsToTensor>[1], context: ScoreContext): RowError | DataError {
  for (let r = 0; r < batch.rows.length; r++) {
    try {
      rowsToTensor([batch.rows[r]], { ...opts, label: '' });
    } catch (error) {
      if (!(error instanceof InvalidInputError)) throw error;
      return batchRowError(context.file, batch, r, rowDetail(error.message, opts.featureNames));
    }
  }
  return new DataError(`${context.file}: rows ${batch.firstRow}..${batch.firstRow + batch.rows.length - 1}: cannot be decoded`);
}

/**
 * rowsToTensor's message for a one-row batch labelled '' starts with "[0]", then ".name", "[i]" (a
 * value of an array row) or ":": said here as ", feature "name"" or ", value i+1".
 */
export function rowDetail(message: string, featureNames: readonly string[]): string {
  const rest = message.startsWith('[0]') ? message.slice(3) : `: ${message}`;
  const named = /^\.([^:]*)(:.*)$/s.exec(rest);
  if (named) return `, feature ${JSON.stringify(named[1])}${named[2]}`;
  const indexed = /^\[(\d+)\](:.*)$/s.exec(rest);
  if (indexed) {
    const i = Number(indexed[1]);
    return i < featureNames.length ? `, feature ${JSON.stringify(featureNames[i])}${indexed[2]}` : `, value ${i + 1}${indexed[2]}`;
  }
  return rest;
}
