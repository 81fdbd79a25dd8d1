import * as tf from '@tensorflow/tfjs';
import type { LayerSpec, TrainConfig } from './config.ts';
import { ConfigError, effectiveL2 } from './config.ts';
import type { Dataset } from './dataset.ts';
import { datasetSize, subset } from './dataset.ts';
import { loadDataset, splitDataset } from './data.ts';
import { fitStandardization, identityStandardization, standardizeDataset } from './standardize.ts';
import type { Standardization } from './standardize.ts';
import { buildModel, hasConv, layerName } from './model.ts';
import { initBackend } from './backend.ts';
import { bnGuard } from './bn-stats.ts';
import { checkBnStatistics } from './bn-check.ts';
import type { BnGuard } from './bn-stats.ts';
import { accuracy, crossEntropy, learningRateAt, meanAbsoluteError, meanSquaredError, regularizationPenalty } from './metrics.ts';
import { permutation, createRng } from './rng.ts';
import type { Preprocessing } from './checkpoint.ts';
import { collapseCheck, countNonFiniteWeights } from './divergence.ts';
import type { CollapseCheck, NonFiniteWeights } from './divergence.ts';

export interface EpochMetrics {
  epoch: number;
  /** Training loss as fit reports it: data loss + regularisation, averaged over the epoch's batches. */
  loss: number;
  /** Regularisation term at the end of the epoch (Keras convention: l1·Σ|w| + l2·Σw²). */
  regularizationLoss: number;
  /** loss − regularizationLoss. */
  dataLoss: number;
  learningRate: number;
  /** fit's own metric over the epoch's batches (training mode): accuracy | mae. */
  train: Record<string, number>;
  /** Validation metrics in inference mode (moving statistics): valLoss, valAccuracy | valMae, valRmse. */
  validation: Record<string, number>;
  /** Test metrics in inference mode, for the record only (never used to choose anything). */
  test: Record<string, number>;
  /** BN update steps (training batches) so far. */
  bnSteps: number;
  /** NaN/Infinity values in the weights and BN moving statistics after the epoch (any means diverged). */
  nonFiniteWeights: number;
  seconds: number;
}

export interface TrainResult {
  model: tf.LayersModel;
  backend: string;
  preprocessing: Preprocessing;
  epochs: EpochMetrics[];
  bestEpoch: number;
  /** Test split metrics in inference mode. */
  test: Record<string, number>;
  bnSteps: number;
  bnGuard: BnGuard;
  samplesPerSecond: number;
  trainSize: number;
  /** Raw (unstandardised) features of the test split, for the exporter's parity check. */
  testInputs: Float32Array;
  /** Loss of the very first training batch (the untrained model), the yardstick for a loss that explodes. */
  firstBatchLoss: number;
  /** Where the last epoch left NaN/Infinity in the weights, if anywhere. */
  nonFinite: NonFiniteWeights;
  /** Classification only: has the final model collapsed onto one saturated class (on the training split)? */
  collapse?: CollapseCheck;
}

export interface TrainHooks {
  onEpoch?: (metrics: EpochMetrics, totalEpochs: number) => void | Promise<void>;
  onStart?: (info: { backend: string; trainSize: number; validationSize: number; testSize: number }) => void | Promise<void>;
}

function toTensors(data: Dataset, task: TrainConfig['task'], classes: number) {
  const x = tf.tensor(data.x, [datasetSize(data), ...data.inputShape]);
  const y =
    task === 'classification' ? tf.oneHot(tf.tensor1d(data.y, 'int32'), classes).toFloat() : tf.tensor2d(data.y, [datasetSize(data), 1]);
  return { x, y };
}

function createOptimizer(config: TrainConfig['optimizer']): tf.Optimizer {
  switch (config.type) {
    case 'sgd':
      return tf.train.sgd(config.learningRate);
    case 'momentum':
      return tf.train.momentum(config.learningRate, config.momentum);
    case 'adam':
      return tf.train.adam(config.learningRate);
  }
}

function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  // SGD and Momentum expose setLearningRate; Adam reads its public learningRate field every step.
  const target = optimizer as unknown as { setLearningRate?: (r: number) => void; learningRate: number };
  if (typeof target.setLearningRate === 'function') target.setLearningRate(rate);
  else target.learningRate = rate;
}

/** Inference-mode forward pass in large batches (wasm is slow with predict's default of 32). */
export function predictFlat(model: tf.LayersModel, x: Float32Array, inputShape: number[]): Float32Array {
  const n = x.length / inputShape.reduce((a, b) => a * b, 1);
  return tf.tidy(() => {
    const input = tf.tensor(x, [n, ...inputShape]);
    const output = model.predict(input, { batchSize: 1024 }) as tf.Tensor;
    return output.dataSync() as Float32Array;
  });
}

export function evaluate(model: tf.LayersModel, data: Dataset, task: TrainConfig['task'], classes: number): Record<string, number> {
  if (datasetSize(data) === 0) return {};
  const out = predictFlat(model, data.x, data.inputShape);
  if (task === 'classification') {
    return { loss: crossEntropy(out, data.y, classes), accuracy: accuracy(out, data.y, classes) };
  }
  const mse = meanSquaredError(out, data.y);
  return { loss: mse, mae: meanAbsoluteError(out, data.y), rmse: Math.sqrt(mse) };
}

function regularizationLoss(model: tf.LayersModel, layers: LayerSpec[]): number {
  let total = 0;
  layers.forEach((spec, index) => {
    if ((spec.type !== 'dense' && spec.type !== 'conv2d') || !spec.kernelRegularizer) return;
    const kernel = model.getLayer(layerName(spec, index)).getWeights()[0];
    total += regularizationPenalty(kernel.dataSync(), spec.kernelRegularizer.l1, effectiveL2(spec.kernelRegularizer));
  });
  return total;
}

function trainingMetric(history: Record<string, (number | tf.Tensor)[]>, classification: boolean): Record<string, number> {
  // tfjs names the accuracy metric 'acc' in history.
  const values = classification ? (history.acc ?? history.accuracy) : history.mae;
  return values ? { [classification ? 'accuracy' : 'mae']: Number(values[0]) } : {};
}

function prefixed(prefix: string, values: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(values).map(([k, v]) => [prefix + k[0].toUpperCase() + k.slice(1), v]));
}

function isBetter(monitor: 'valLoss' | 'valAccuracy', candidate: number, best: number, minDelta: number): boolean {
  return monitor === 'valLoss' ? candidate < best - minDelta : candidate > best + minDelta;
}

export function preprocessingFor(data: Dataset, task: TrainConfig['task'], s: Standardization): Preprocessing {
  return {
    task,
    featureNames: data.featureNames,
    inputShape: data.inputShape,
    mean: s.mean,
    std: s.std,
    classLabels: task === 'classification' ? data.classLabels : [],
    targetName: data.targetName,
  };
}

/**
 * A backend that runs out of memory fails with a low-level error (wasm: "memory access out of
 * bounds"; JS: "Array buffer allocation failed"); it is the config that asks too much, so say so.
 */
export function asResourceError(error: unknown, config: Pick<TrainConfig, 'batchSize'>): unknown {
  const message = error instanceof Error ? error.message : '';
  const outOfMemory =
    (error instanceof WebAssembly.RuntimeError && /memory access out of bounds|out of memory/i.test(message)) ||
    (error instanceof RangeError && /allocation failed|invalid (typed )?array length|out of memory/i.test(message));
  if (!outOfMemory) return error;
  return new ConfigError(
    `training ran out of memory (${(error as Error).name}: ${message}): the model or the batch is too large for the backend; ` +
      `lower batchSize (now ${config.batchSize}) or the layers' units/filters`,
  );
}

/** Trains the configured model; the caller owns the returned model (dispose it). */
export async function train(config: TrainConfig, hooks: TrainHooks = {}, dataset?: Dataset): Promise<TrainResult> {
  try {
    return await fit(config, hooks, dataset);
  } catch (error) {
    throw asResourceError(error, config);
  }
}

async function fit(config: TrainConfig, hooks: TrainHooks, dataset?: Dataset): Promise<TrainResult> {
  const raw = dataset ?? (await loadDataset(config));
  const backend = await initBackend(config.backend, hasConv(config.layers));
  const splits = splitDataset(raw, config.split, config.task);
  const standardization = config.standardize ? fitStandardization(splits.train) : identityStandardization(raw.inputShape);
  const train = standardizeDataset(splits.train, standardization);
  const validation = standardizeDataset(splits.validation, standardization);
  const test = standardizeDataset(splits.test, standardization);
  const classes = config.task === 'classification' ? raw.classLabels.length : 1;
  const trainSize = datasetSize(train);
  await hooks.onStart?.({ backend, trainSize, validationSize: datasetSize(validation), testSize: datasetSize(test) });

  tf.util.assert(trainSize > 0, () => 'the training split is empty');
  const model = buildModel(config.layers, {
    inputShape: raw.inputShape,
    task: config.task,
    outputUnits: classes,
    seed: config.seed,
  });
  const optimizer = createOptimizer(config.optimizer);
  const classification = config.task === 'classification';
  model.compile({
    optimizer,
    loss: classification ? 'categoricalCrossentropy' : 'meanSquaredError',
    metrics: [classification ? 'accuracy' : 'mae'],
  });

  const rng = createRng(config.seed);
  let steps = 0;
  const epochs: EpochMetrics[] = [];
  const monitor = config.earlyStopping?.monitor ?? 'valLoss';
  let best = { epoch: -1, value: monitor === 'valLoss' ? Infinity : -Infinity, weights: null as tf.Tensor[] | null };
  let trainedSeconds = 0;
  let firstBatchLoss = Number.NaN;
  let nonFinite: NonFiniteWeights = { count: 0, total: 0, names: [] };

  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const started = performance.now();
    const learningRate = learningRateAt(config.optimizer.learningRate, epoch, config.optimizer.decay);
    setLearningRate(optimizer, learningRate);
    const order = permutation(trainSize, rng);
    const shuffled = subset(train, order);
    const { x, y } = toTensors(shuffled, config.task, classes);
    const history = await model.fit(x, y, {
      epochs: 1,
      batchSize: config.batchSize,
      shuffle: false,
      verbose: 0,
      callbacks: {
        onBatchEnd: async (_batch, logs) => {
          if (steps === 0) firstBatchLoss = Number(logs?.loss);
          steps++;
        },
      },
    });
    tf.dispose([x, y]);
    trainedSeconds += (performance.now() - started) / 1000;

    const loss = Number(history.history.loss[0]);
    nonFinite = countNonFiniteWeights(model);
    const reg = regularizationLoss(model, config.layers);
    const metrics: EpochMetrics = {
      epoch: epoch + 1,
      loss,
      regularizationLoss: reg,
      dataLoss: loss - reg,
      learningRate,
      train: trainingMetric(history.history, classification),
      validation: prefixed('val', evaluate(model, validation, config.task, classes)),
      test: prefixed('test', evaluate(model, test, config.task, classes)),
      bnSteps: steps,
      nonFiniteWeights: nonFinite.count,
      seconds: (performance.now() - started) / 1000,
    };
    epochs.push(metrics);
    await hooks.onEpoch?.(metrics, config.epochs);

    // Diverged: nothing more to learn, the metrics say so. The loss alone can stay finite while
    // weights are NaN (ReLU maps NaN to 0 on some backends), hence the weights are checked too.
    if (!Number.isFinite(loss) || nonFinite.count > 0) break;
    if (config.earlyStopping && metrics.validation[monitor] !== undefined) {
      const value = metrics.validation[monitor];
      if (isBetter(monitor, value, best.value, config.earlyStopping.minDelta)) {
        tf.dispose(best.weights ?? []);
        best = { epoch: epoch + 1, value, weights: config.earlyStopping.restoreBest ? model.getWeights().map((w) => w.clone()) : null };
      } else if (epoch + 1 - best.epoch >= config.earlyStopping.patience) {
        break;
      }
    }
  }

  let bestEpoch = epochs.length;
  if (best.weights) {
    model.setWeights(best.weights);
    tf.dispose(best.weights);
    bestEpoch = best.epoch;
  }
  const bnSteps = epochs[bestEpoch - 1]?.bnSteps ?? 0;
  const bnLayers = config.layers.flatMap((spec, index) =>
    spec.type === 'batchNormalization' ? [{ name: layerName(spec, index), momentum: spec.momentum }] : [],
  );
  const collapse = classification ? collapseCheck(predictFlat(model, train.x, train.inputShape), train.y, classes) : undefined;
  return {
    model,
    backend,
    preprocessing: preprocessingFor(raw, config.task, standardization),
    epochs,
    bestEpoch,
    test: evaluate(model, test, config.task, classes),
    bnSteps,
    bnGuard: bnGuard(bnLayers, bnSteps, checkBnStatistics(model, train.x, train.inputShape), config.bnGuard),
    samplesPerSecond: trainedSeconds > 0 ? (trainSize * epochs.length) / trainedSeconds : 0,
    trainSize,
    testInputs: splits.test.x,
    firstBatchLoss,
    nonFinite,
    collapse,
  };
}
