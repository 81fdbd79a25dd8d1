import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { loadTrainConfig, ConfigError } from '../train/config.ts';
import type { TrainConfig } from '../train/config.ts';
import { loadDataset, splitDataset } from '../train/data.ts';
import { checkLayerShapes } from '../train/layer-shapes.ts';
import { assertModelName } from '../registry/validation.ts';
import type { Dataset } from '../train/dataset.ts';
import { train } from '../train/trainer.ts';
import type { TrainResult } from '../train/trainer.ts';
import { assertCheckpointDestination, sweepStaleTempFolders } from '../checkpoint/index.ts';
import { saveCheckpoint } from '../train/tfjs-checkpoint.ts';
import { initBackend } from '../train/backend.ts';
import { hasConv } from '../train/model.ts';
import { createProgress } from '../train/progress.ts';
import { assertConverged, TrainingError } from '../train/divergence.ts';
import { keepDivergedRun } from './diverged-run.ts';
import type { Registry } from '../registry/types.ts';
import { exportAndRegister } from './register.ts';
import { startHeartbeat } from '../registry/heartbeat.ts';
import { HEARTBEAT_INTERVAL_MS } from '../registry/index.ts';
import { withTracing } from '../tracing/tracing.ts';

export interface TrainCommandOptions {
  config: string;
  data?: string;
  name?: string;
  seed?: number;
  out?: string;
  export: boolean;
  /** Where checkpoints go when --out is not given. */
  checkpointsRoot?: string;
  /** Where a diverged run's metrics and plot go when --out is not given (default: data/runs, next to the checkpoints). */
  runsRoot?: string;
  quiet?: boolean;
}

export { assertConverged, TrainingError } from '../train/divergence.ts';

export interface TrainCommandResult {
  runId: string;
  name: string;
  backend: string;
  checkpoint: string;
  bestEpoch: number;
  epochs: number;
  test: Record<string, number>;
  bnSteps: number;
  /** Absent when the model has no BatchNormalization layer. */
  bnGuard?: TrainResult['bnGuard'];
  samplesPerSecond: number;
  model?: { name: string; version: number; sha256: string; parityMaxAbsDiff: number; folded: boolean };
  warnings: string[];
}

/** Applies the command-line overrides (--data, --name, --seed) to a validated config. */
export function applyOverrides(config: TrainConfig, options: Pick<TrainCommandOptions, 'data' | 'name' | 'seed'>): TrainConfig {
  const result = { ...config };
  if (options.data) {
    if (config.data.kind !== 'csv') {
      throw new ConfigError(`--data replaces the CSV path of a config whose data.kind is "csv"; this config uses ${config.data.kind}`);
    }
    result.data = { ...config.data, path: path.resolve(options.data) };
  }
  if (options.name !== undefined) {
    try {
      assertModelName(options.name);
    } catch (error) {
      throw new ConfigError(`--name: ${(error as Error).message}`);
    }
    result.name = options.name;
  }
  if (options.seed !== undefined) result.seed = options.seed;
  return result;
}

/**
 * config → data → run row → fit → checkpoint → (export + parity → version row).
 * Config and data problems are reported before anything is written or registered.
 */
export async function runTrainCommand(options: TrainCommandOptions, registry: Registry): Promise<TrainCommandResult> {
  return runPreparedTraining(await prepareTraining(options), options, registry);
}

export interface PreparedTraining {
  config: TrainConfig;
  dataset: Dataset;
}

/**
 * Validates the config, reads the data, checks that the splits can be filled, that the layers fit the
 * data and that the checkpoint folder may be written: nothing is written or registered when this fails.
 */
export async function prepareTraining(
  options: Pick<TrainCommandOptions, 'config' | 'data' | 'name' | 'seed' | 'out'>,
): Promise<PreparedTraining> {
  const config = applyOverrides(await loadTrainConfig(options.config), options);
  if (options.out !== undefined) await assertCheckpointDestination(options.out, filesToKeep(options.config, config));
  const dataset = await loadDataset(config);
  splitDataset(dataset, config.split, config.task);
  checkLayerShapes(config.layers, dataset.inputShape, config.task === 'classification' ? dataset.classLabels.length : 1);
  return { config, dataset };
}

/** The user's files that --out must not be or hold: a checkpoint folder is replaced as a whole. */
function filesToKeep(configFile: string, config: TrainConfig): Record<string, string> {
  return { 'the --config file': configFile, ...(config.data.kind === 'csv' ? { 'the data file': config.data.path } : {}) };
}

/** Trains, saves, exports and registers; traced when OTEL_TRACES_EXPORTER says so (a bad OTEL_* value fails before the run is registered). */
export function runPreparedTraining(
  prepared: PreparedTraining,
  options: TrainCommandOptions,
  registry: Registry,
): Promise<TrainCommandResult> {
  return withTracing(() => trainAndRegister(prepared, options, registry));
}

async function trainAndRegister(
  { config, dataset }: PreparedTraining,
  options: TrainCommandOptions,
  registry: Registry,
): Promise<TrainCommandResult> {
  const backend = await initBackend(config.backend, hasConv(config.layers));
  const run = await registry.startRun({ name: config.name, config, backend, seed: config.seed });
  const stopHeartbeat = startHeartbeat(registry, run.id, HEARTBEAT_INTERVAL_MS);
  const progress = options.quiet ? null : createProgress();
  const checkpoint = path.resolve(options.out ?? path.join(options.checkpointsRoot ?? 'data/checkpoints', config.name, run.id));
  let result: TrainResult | undefined;
  try {
    result = await train(
      config,
      {
        onStart: ({ backend, engine, trainSize, validationSize, testSize }) => {
          if (!options.quiet) {
            const on = engine.engine === 'onnxruntime' ? `onnxruntime (${engine.reason})` : `tfjs backend "${backend}" (${engine.reason})`;
            process.stderr.write(
              `training ${config.name} (run ${run.id}) on ${on} (train ${trainSize}, validation ${validationSize}, test ${testSize})\n`,
            );
          }
        },
        onEpoch: async (m, total) => {
          progress?.epoch(m, total);
          await registry.recordEpoch(run.id, {
            epoch: m.epoch,
            loss: m.loss,
            dataLoss: m.dataLoss,
            regularizationLoss: m.regularizationLoss,
            metrics: {
              learningRate: m.learningRate,
              seconds: m.seconds,
              bnSteps: m.bnSteps,
              nonFiniteWeights: m.nonFiniteWeights,
              ...Object.fromEntries(Object.entries(m.train).map(([k, v]) => [`train${k[0].toUpperCase()}${k.slice(1)}`, v])),
              ...m.validation,
              ...m.test,
            },
          });
        },
      },
      dataset,
    );
    progress?.stop();
    try {
      assertConverged({ ...result, standardized: config.standardize });
    } catch (error) {
      if (!(error instanceof TrainingError)) throw error;
      const runDir = divergedRunFolder(options, config.name, run.id);
      const kept = await keepDivergedRun(runDir, { runId: run.id, config, result, error: error.message });
      throw new TrainingError(`${error.message}. ${kept}`);
    }
    const guardWarnings = result.bnGuard?.stale && result.bnGuard.message ? [result.bnGuard.message] : [];
    // saveCheckpoint sweeps its own folder; under the default root, a trainer of another model may
    // have been killed mid-save in its model's folder: sweep those too.
    if (options.out === undefined) await sweepCheckpointRoot(path.dirname(path.dirname(checkpoint)));
    await saveCheckpoint(checkpoint, {
      model: result.model,
      preprocessing: result.preprocessing,
      config,
      metrics: {
        runId: run.id,
        backend: result.backend,
        bnSteps: result.bnSteps,
        bnGuard: result.bnGuard,
        bestEpoch: result.bestEpoch,
        samplesPerSecond: result.samplesPerSecond,
        epochs: result.epochs,
        test: result.test,
      },
    });
    const summary: TrainCommandResult = {
      runId: run.id,
      name: config.name,
      backend: result.backend,
      checkpoint,
      bestEpoch: result.bestEpoch,
      epochs: result.epochs.length,
      test: result.test,
      bnSteps: result.bnSteps,
      bnGuard: result.bnGuard,
      samplesPerSecond: result.samplesPerSecond,
      warnings: guardWarnings,
    };
    if (options.export) {
      const { version, warnings } = await exportAndRegister(
        { checkpointDir: checkpoint, runId: run.id, name: config.name, parityRows: result.testInputs },
        registry,
      );
      summary.warnings = warnings; // the exporter repeats the guard's finding in its own words
      summary.model = {
        name: version.name,
        version: version.version,
        sha256: version.artifactSha256,
        parityMaxAbsDiff: version.parityMaxAbsDiff,
        folded: version.folded,
      };
    }
    await registry.finishRun(run.id, { status: 'succeeded', bnSteps: result.bnSteps });
    return summary;
  } catch (error) {
    progress?.stop();
    await registry.finishRun(run.id, { status: 'failed', error: (error as Error).message }).catch(() => {});
    throw error;
  } finally {
    stopHeartbeat();
    result?.model.dispose();
  }
}

/** Not a checkpoint (no model is saved): `<out>.diverged` beside --out, else data/runs/<name>/<run id>. */
export function divergedRunFolder(
  options: Pick<TrainCommandOptions, 'out' | 'checkpointsRoot' | 'runsRoot'>,
  name: string,
  runId: string,
): string {
  if (options.out !== undefined) return path.resolve(`${options.out.replace(/[/\\]+$/, '')}.diverged`);
  const root = options.runsRoot ?? path.join(path.dirname(options.checkpointsRoot ?? 'data/checkpoints'), 'runs');
  return path.resolve(root, name, runId);
}

async function sweepCheckpointRoot(root: string): Promise<void> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => []);
  for (const entry of entries) if (entry.isDirectory()) await sweepStaleTempFolders(path.join(root, entry.name));
}
