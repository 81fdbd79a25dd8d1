import { type Attributes, SpanStatusCode } from '@opentelemetry/api';
import * as tf from '@tensorflow/tfjs';
import { ATTR, inSpan, SPAN, spanTime, tracer } from '../tracing/spans.ts';
import type { TrainConfig } from './config.ts';
import { batchRows, ConfigError, effectiveL2, kernelRegularizerFor } from './config.ts';
import type { RegularizerSpec } from './config.ts';
import type { Dataset } from './dataset.ts';
import { datasetSize, subset } from './dataset.ts';
import { loadDataset, splitDataset } from './data.ts';
import { fitStandardization, identityStandardization, standardizeDataset } from './standardize.ts';
import type { Standardization } from './standardize.ts';
import { buildModel, hasBatchNorm, hasConv, layerName, OUTPUT_LAYER } from './model.ts';
import { initBackend } from './backend.ts';
import { chooseTrainEngine, type EngineChoice } from './ort/engine-choice.ts';
import { createOrtFit } from './ort/ort-fit.ts';
import { readSettings } from '../settings.ts';
import { bnGuard } from './bn-stats.ts';
import { checkBnStatistics } from './bn-check.ts';
import type { BnGuard } from './bn-stats.ts';
import {
  accuracy,
  crossEntropy,
  learningRateAt,
  meanAbsoluteError,
  meanSquaredError,
  regularizationPenalty,
  signAccuracy,
} from './metrics.ts';
import { permutation, createRng } from './rng.ts';
import type { Preprocessing } from '../checkpoint/index.ts';
import { collapseCheck, countNonFiniteWeights } from './divergence.ts';
import type { CollapseCheck, NonFiniteWeights } from './divergence.ts';

export interface EpochMetrics {
  epoch: number;
  /**
   * Training loss as fit reports it: data loss + regularisation, averaged over the epoch's batches,
   * each computed before that batch's update (full batch: exactly the tutorial's cost of the epoch).
   */
  loss: number;
  /** Regularisation term (Keras convention: l1·Σ|w| + l2·Σw²) of the weights each batch was computed with, averaged like loss. */
  regularizationLoss: number;
  /** loss − regularizationLoss: the data term, from the same weights. */
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
  /** The tfjs backend (evaluation, checks; and training when engine is tfjs). */
  backend: string;
  /** What ran the optimizer steps, and why. */
  engine: EngineChoice;
  preprocessing: Preprocessing;
  epochs: EpochMetrics[];
  bestEpoch: number;
  /** Test split metrics in inference mode. */
  test: Record<string, number>;
  bnSteps: number;
  /** Absent when the model has no BatchNormalization layer. */
  bnGuard?: BnGuard;
  samplesPerSecond: number;
  trainSize: number;
  /** Raw (unstandardised) features of the test split (of the training rows when there is no test split), for the exporter's parity check. */
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
  onStart?: (info: {
    backend: string;
    engine: EngineChoice;
    trainSize: number;
    validationSize: number;
    testSize: number;
  }) => void | Promise<void>;
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

/** Sum of squared errors over 2 (the Adaline's cost): summed over the batch, not averaged. */
export function sumSquaredErrorHalf(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sum(tf.square(tf.sub(yTrue, yPred))).div(2));
}

function lossValue(out: ArrayLike<number>, y: ArrayLike<number>, loss: TrainConfig['loss']): number {
  const mse = meanSquaredError(out, y);
  return loss === 'sse' ? (mse * y.length) / 2 : mse;
}

export function evaluate(
  model: tf.LayersModel,
  data: Dataset,
  task: TrainConfig['task'],
  classes: number,
  loss: TrainConfig['loss'] = 'mse',
): Record<string, number> {
  if (datasetSize(data) === 0) return {};
  const out = predictFlat(model, data.x, data.inputShape);
  if (task === 'classification') {
    return { loss: crossEntropy(out, data.y, classes), accuracy: accuracy(out, data.y, classes) };
  }
  const mse = meanSquaredError(out, data.y);
  return {
    loss: lossValue(out, data.y, loss),
    mae: meanAbsoluteError(out, data.y),
    rmse: Math.sqrt(mse),
    ...(data.signClasses ? { accuracy: signAccuracy(out, data.y) } : {}),
  };
}

interface RegularizedKernel {
  layer: string;
  spec: RegularizerSpec;
}

/** Every kernel with a non-zero regulariser: hidden Dense/Conv (own or model-wide) and the output layer. */
export function regularizedKernels(config: Pick<TrainConfig, 'layers' | 'output' | 'kernelRegularizer'>): RegularizedKernel[] {
  const kernels: RegularizedKernel[] = [];
  config.layers.forEach((spec, index) => {
    if (spec.type !== 'dense' && spec.type !== 'conv2d') return;
    const reg = kernelRegularizerFor(spec, config);
    if (reg) kernels.push({ layer: layerName(spec, index), spec: reg });
  });
  const output = kernelRegularizerFor(config.output, config);
  if (output) kernels.push({ layer: OUTPUT_LAYER, spec: output });
  return kernels.filter((k) => k.spec.l1 > 0 || effectiveL2(k.spec) > 0);
}

/** l1·Σ|w| + l2·Σw² over the regularised kernels, from the model's current weights. */
export function regularizationLoss(model: tf.LayersModel, kernels: RegularizedKernel[]): number {
  let total = 0;
  for (const { layer, spec } of kernels) {
    const kernel = model.getLayer(layer).getWeights()[0];
    total += regularizationPenalty(kernel.dataSync(), spec.l1, effectiveL2(spec));
  }
  return total;
}

function trainingMetric(history: Record<string, (number | tf.Tensor)[]>, classification: boolean, sign: boolean): Record<string, number> {
  // tfjs names the accuracy metric 'acc' in history, and a function metric by the function's name.
  const values = classification ? (history.acc ?? history.accuracy) : history.mae;
  const result: Record<string, number> = values ? { [classification ? 'accuracy' : 'mae']: Number(values[0]) } : {};
  if (sign && history.signAccuracy) result.accuracy = Number(history.signAccuracy[0]);
  return result;
}

/** Share of rows whose output has the target's sign (a ±1 binary linear classifier), as a tfjs metric. */
function signAccuracyMetric(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() =>
    tf.mean(tf.equal(tf.sign(yTrue), tf.where(tf.greaterEqual(yPred, 0), tf.onesLike(yPred), tf.onesLike(yPred).neg())).toFloat()),
  );
}
Object.defineProperty(signAccuracyMetric, 'name', { value: 'signAccuracy' });

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
    ...(task === 'regression' && data.signClasses ? { signClasses: data.signClasses } : {}),
  };
}

/**
 * A backend that runs out of memory fails with a low-level error (wasm: "memory access out of
 * bounds"; JS: "Array buffer allocation failed"); it is the config that asks too much, so say so.
 */
export function asResourceError(error: unknown, config: { batchSize: TrainConfig['batchSize'] }): unknown {
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

/**
 * Trains the configured model; the caller owns the returned model (dispose it). Traced as one
 * bnserve.train span with a bnserve.epoch span per epoch (docs/tracing.md).
 */
export async function train(config: TrainConfig, hooks: TrainHooks = {}, dataset?: Dataset): Promise<TrainResult> {
  return inSpan(SPAN.training, { [ATTR.model]: config.name, 'bnserve.epochs': config.epochs }, async (span) => {
    try {
      const result = await fit(config, hooks, dataset);
      span.setAttributes({ 'bnserve.backend': result.backend, 'bnserve.best_epoch': result.bestEpoch });
      return result;
    } catch (error) {
      throw asResourceError(error, config);
    }
  });
}

/** One epoch's span, from its start to its metrics (the active span, bnserve.train, is its parent). */
function traceEpoch(started: number, m: EpochMetrics, samplesPerSecond: number): void {
  const attributes: Attributes = {
    'bnserve.epoch': m.epoch,
    'bnserve.loss': m.loss,
    'bnserve.samples_per_second': samplesPerSecond,
    'bnserve.learning_rate': m.learningRate,
  };
  if (m.train.accuracy !== undefined) attributes['bnserve.accuracy'] = m.train.accuracy;
  if (m.validation.valLoss !== undefined) attributes['bnserve.val_loss'] = m.validation.valLoss;
  if (m.validation.valAccuracy !== undefined) attributes['bnserve.val_accuracy'] = m.validation.valAccuracy;
  const span = tracer().startSpan(SPAN.epoch, { startTime: spanTime(started), attributes });
  if (!Number.isFinite(m.loss) || m.nonFiniteWeights > 0) span.setStatus({ code: SpanStatusCode.ERROR, message: 'diverged' });
  span.end(spanTime());
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
  const engine = chooseTrainEngine(readSettings(['BNSERVE_TRAIN_ENGINE']).BNSERVE_TRAIN_ENGINE, {
    layers: config.layers,
    inputShape: raw.inputShape,
    task: config.task,
    optimizer: config.optimizer,
    regularized: regularizedKernels(config).length > 0,
    backend: config.backend,
  });
  await hooks.onStart?.({ backend, engine, trainSize, validationSize: datasetSize(validation), testSize: datasetSize(test) });

  tf.util.assert(trainSize > 0, () => 'the training split is empty');
  const model = buildModel(config.layers, {
    inputShape: raw.inputShape,
    task: config.task,
    outputUnits: classes,
    seed: config.seed,
    output: config.output,
    defaultRegularizer: config.kernelRegularizer,
  });
  const optimizer = createOptimizer(config.optimizer);
  const classification = config.task === 'classification';
  const sign = !classification && raw.signClasses !== undefined;
  model.compile({
    optimizer,
    // tfjs takes the mean of what a loss function returns: a scalar sum stays the sum (no averaging).
    loss: classification ? 'categoricalCrossentropy' : config.loss === 'sse' ? sumSquaredErrorHalf : 'meanSquaredError',
    metrics: classification ? ['accuracy'] : sign ? ['mae', signAccuracyMetric] : ['mae'],
  });
  const batchSize = batchRows(config.batchSize, trainSize);
  const kernels = regularizedKernels(config);
  const ortFit =
    engine.engine === 'onnxruntime'
      ? await createOrtFit(model, {
          layers: config.layers,
          features: raw.inputShape[0],
          classes,
          learningRate: config.optimizer.learningRate,
        })
      : null;

  const rng = createRng(config.seed);
  let steps = 0;
  const epochs: EpochMetrics[] = [];
  const monitor = config.earlyStopping?.monitor ?? 'valLoss';
  let best = { epoch: -1, value: monitor === 'valLoss' ? Infinity : -Infinity, weights: null as tf.Tensor[] | null };
  let trainedSeconds = 0;
  let firstBatchLoss = Number.NaN;
  let nonFinite: NonFiniteWeights = { count: 0, total: 0, names: [] };

  try {
    for (let epoch = 0; epoch < config.epochs; epoch++) {
      const started = performance.now();
      const learningRate = learningRateAt(config.optimizer.learningRate, epoch, config.optimizer.decay);
      setLearningRate(optimizer, learningRate);
      const order = permutation(trainSize, rng);
      const shuffled = subset(train, order);
      // The penalty of the weights each batch's loss is computed with (before its update), weighted like fit's mean.
      let penaltySum = 0;
      let penaltyRows = 0;
      let history: { history: Record<string, (number | tf.Tensor)[]> };
      if (ortFit) {
        // No regulariser here (onnxruntime's engine refuses them), so the penalty stays 0.
        const e = await ortFit.fitEpoch({ x: shuffled.x, labels: shuffled.y }, batchSize, learningRate, (batchLoss) => {
          if (steps === 0) firstBatchLoss = batchLoss;
          steps++;
        });
        ortFit.copyInto(model); // evaluation, the NaN check, early stopping and the checkpoint read the tfjs model
        history = { history: { loss: [e.loss], acc: [e.accuracy] } };
      } else {
        const { x, y } = toTensors(shuffled, config.task, classes);
        history = await model.fit(x, y, {
          epochs: 1,
          batchSize,
          shuffle: false,
          verbose: 0,
          callbacks: {
            onBatchBegin: async (batch) => {
              if (kernels.length === 0) return;
              const rows = Math.min(batchSize, trainSize - batch * batchSize);
              penaltySum += regularizationLoss(model, kernels) * rows;
              penaltyRows += rows;
            },
            onBatchEnd: async (_batch, logs) => {
              if (steps === 0) firstBatchLoss = Number(logs?.loss);
              steps++;
            },
          },
        });
        tf.dispose([x, y]);
      }
      const epochSeconds = (performance.now() - started) / 1000;
      trainedSeconds += epochSeconds;

      const loss = Number(history.history.loss[0]);
      nonFinite = countNonFiniteWeights(model);
      const reg = penaltyRows > 0 ? penaltySum / penaltyRows : 0;
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        loss,
        regularizationLoss: reg,
        dataLoss: loss - reg,
        learningRate,
        train: trainingMetric(history.history, classification, sign),
        validation: prefixed('val', evaluate(model, validation, config.task, classes, config.loss)),
        test: prefixed('test', evaluate(model, test, config.task, classes, config.loss)),
        bnSteps: steps,
        nonFiniteWeights: nonFinite.count,
        seconds: (performance.now() - started) / 1000,
      };
      epochs.push(metrics);
      traceEpoch(started, metrics, epochSeconds > 0 ? trainSize / epochSeconds : 0);
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
  } finally {
    await ortFit?.dispose();
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
    engine,
    preprocessing: preprocessingFor(raw, config.task, standardization),
    epochs,
    bestEpoch,
    test: evaluate(model, test, config.task, classes, config.loss),
    bnSteps,
    bnGuard: hasBatchNorm(config.layers)
      ? bnGuard(bnLayers, bnSteps, checkBnStatistics(model, train.x, train.inputShape), config.bnGuard)
      : undefined,
    samplesPerSecond: trainedSeconds > 0 ? (trainSize * epochs.length) / trainedSeconds : 0,
    trainSize,
    testInputs: datasetSize(splits.test) > 0 ? splits.test.x : splits.train.x,
    firstBatchLoss,
    nonFinite,
    collapse,
  };
}
