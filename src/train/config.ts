// Loading a training config: the file read (bounded), parsed and validated, relative paths resolved,
// and the trainer's helpers over it. The schema and its types are src/lib/train-config-schema.ts's
// (re-exported here for the trainer's callers).
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../lib/errors.ts';
import { readRegularFile } from '../lib/regular-file.ts';
import { type RegularizerSpec, type TrainConfig, trainConfigSchema } from '../lib/train-config-schema.ts';

export * from '../lib/train-config-schema.ts';

export { ConfigError };

/** Validates a parsed config object; relative CSV paths are resolved against baseDir. */
export function parseTrainConfig(raw: unknown, baseDir = process.cwd()): TrainConfig {
  const result = trainConfigSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(`invalid config:\n${z.prettifyError(result.error)}`);
  const config = result.data;
  if (config.data.kind === 'csv' && !path.isAbsolute(config.data.path)) {
    config.data = { ...config.data, path: path.resolve(baseDir, config.data.path) };
  }
  return config;
}

/** Configs are small; anything larger is not one (and is not read whole). */
const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

export async function loadTrainConfig(file: string): Promise<TrainConfig> {
  let text: string;
  try {
    // A regular file within the limit: a FIFO or /dev/zero named by --config must not hang the trainer.
    text = (await readRegularFile(file, { maxBytes: MAX_CONFIG_BYTES })).toString('utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    // V8's message may quote the file's first characters (a password file given by mistake): keep only where.
    const at = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new ConfigError(`config ${file} is not valid JSON${at === undefined ? '' : ` (at character ${at})`}`);
  }
  return parseTrainConfig(raw, path.dirname(path.resolve(file)));
}

/** The regulariser a Dense/Conv layer (or the output layer) gets: its own, else the model-wide default. */
export function kernelRegularizerFor(
  layer: { kernelRegularizer?: RegularizerSpec } | undefined,
  config: Pick<TrainConfig, 'kernelRegularizer'>,
): RegularizerSpec | undefined {
  return layer?.kernelRegularizer ?? config.kernelRegularizer;
}

/** The batch size as a number of rows ("full" is every training row). */
export function batchRows(batchSize: TrainConfig['batchSize'], trainRows: number): number {
  return batchSize === 'full' ? Math.max(1, trainRows) : batchSize;
}

/** The L2 coefficient in Keras/tfjs form (scale·Σw²) once TF1's weightDecay·Σw²/2 is merged in. */
export function effectiveL2(spec: RegularizerSpec): number {
  return spec.l2 + spec.weightDecay / 2;
}
