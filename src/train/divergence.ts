import * as tf from '@tensorflow/tfjs';
import { argmax } from './metrics.ts';
import { BnserveError } from '../lib/errors.ts';

/** Training went wrong in a way more epochs cannot fix: nothing is saved or registered (exit 5). */
export class TrainingError extends BnserveError {
  constructor(message: string) {
    super('training_diverged', message);
  }
}

export interface NonFiniteWeights {
  /** Non-finite values over all weights, moving statistics included. */
  count: number;
  total: number;
  /** Weight names (layer/weight) holding any. */
  names: string[];
}

/** Counts NaN/±Infinity in every weight of the model, BN moving mean and variance included (one readback). */
export function countNonFiniteWeights(model: tf.LayersModel): NonFiniteWeights {
  const variables = model.weights;
  if (variables.length === 0) return { count: 0, total: 0, names: [] };
  const counts = Array.from(tf.tidy(() => tf.stack(variables.map((v) => tf.logicalNot(tf.isFinite(v.read())).sum().toFloat())).dataSync()));
  const names = variables.filter((_, i) => counts[i] > 0).map((v) => v.originalName ?? v.name);
  return {
    count: counts.reduce((a, b) => a + b, 0),
    total: variables.reduce((n, v) => n + v.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0),
    names,
  };
}

/** Below this top-class probability on some row, a one-class model is not "saturated". */
export const SATURATED_PROBABILITY = 0.99;

export interface CollapseCheck {
  /** Rows checked (the training split, inference mode). */
  rows: number;
  /** Classes that appear among the predictions. */
  predictedClasses: number;
  /** Share of rows in the most frequent true class: the accuracy of always answering it. */
  majorityShare: number;
  accuracy: number;
  /** Smallest top-class probability over the rows. */
  minTopProbability: number;
  /** Mean cross-entropy of the model, and of always answering the class frequencies (the prior). */
  crossEntropy: number;
  priorCrossEntropy: number;
  collapsed: boolean;
}

/**
 * A classifier has collapsed when it answers every row with (near-)certainty and yet its
 * cross-entropy is worse than that of the trivial predictor that always answers the class
 * frequencies. Learning rates far too large do this: the logits blow up, the softmax saturates at
 * 1/0 (often on one class for every row), and the loss stays finite because it is clipped, while
 * the model has learnt nothing. A healthy model is either not saturated on every row (an
 * undertrained one never is) or, when it is, right on nearly all of them.
 */
export function collapseCheck(probabilities: ArrayLike<number>, labels: ArrayLike<number>, classes: number): CollapseCheck {
  const rows = labels.length;
  const predicted = new Set<number>();
  const frequency = new Array<number>(classes).fill(0);
  let correct = 0;
  let minTop = 1;
  let crossEntropy = 0;
  for (let i = 0; i < rows; i++) {
    const best = argmax(probabilities, i * classes, classes);
    predicted.add(best);
    if (best === labels[i]) correct++;
    minTop = Math.min(minTop, probabilities[i * classes + best]);
    frequency[labels[i]]++;
    const p = Math.min(Math.max(probabilities[i * classes + labels[i]], 1e-7), 1 - 1e-7);
    crossEntropy -= Math.log(p);
  }
  let prior = 0;
  for (const count of frequency) if (count > 0) prior -= count * Math.log(count / rows);
  const check = {
    rows,
    predictedClasses: predicted.size,
    majorityShare: rows === 0 ? 0 : Math.max(...frequency) / rows,
    accuracy: rows === 0 ? 0 : correct / rows,
    minTopProbability: minTop,
    crossEntropy: rows === 0 ? 0 : crossEntropy / rows,
    priorCrossEntropy: rows === 0 ? 0 : prior / rows,
  };
  const collapsed =
    rows > 0 && classes > 1 && check.minTopProbability >= SATURATED_PROBABILITY && check.crossEntropy > check.priorCrossEntropy;
  return { ...check, collapsed };
}

/** A kept model whose training loss is this many times the untrained model's first-batch loss has blown up. */
export const LOSS_EXPLOSION_FACTOR = 1000;

export interface ConvergenceEvidence {
  epochs: { epoch: number; loss: number; learningRate: number; nonFiniteWeights?: number }[];
  test: Record<string, number>;
  /** The epoch whose weights are kept (1-based); defaults to the last. */
  bestEpoch?: number;
  firstBatchLoss?: number;
  nonFinite?: NonFiniteWeights;
  collapse?: CollapseCheck;
  /** Whether the inputs were standardised (the config's "standardize"); named in the message. */
  standardized?: boolean;
}

const NOTHING_KEPT = 'Nothing was saved or registered';

/** What to change, naming the learning rate and whether the inputs were standardised. */
export function remedy(learningRate: number, standardized?: boolean): string {
  if (standardized === false) {
    return (
      `the learning rate ${learningRate} is too large for raw (unstandardised) inputs: ` +
      `standardise them ("standardize": true) or lower the learning rate (by 10× or more)`
    );
  }
  if (standardized === true) {
    return `the learning rate ${learningRate} is too large even with standardised inputs: lower it (by 10× or more)`;
  }
  return `the learning rate ${learningRate} is far too large: lower it (by 10× or more) and standardise the inputs ("standardize": true)`;
}

/**
 * A diverged run is a failure: nothing is saved or registered. Diverged means a NaN/Infinity loss,
 * NaN/Infinity in any weight or BN moving statistic, non-finite test metrics, a kept model whose loss
 * exploded against the untrained one, or a classifier that collapsed (see collapseCheck).
 */
export function assertConverged(result: ConvergenceEvidence): void {
  const firstRate = result.epochs[0]?.learningRate ?? Number.NaN;
  const badLoss = result.epochs.find((e) => !Number.isFinite(e.loss));
  if (badLoss) {
    throw new TrainingError(
      `training diverged: the loss became ${badLoss.loss} at epoch ${badLoss.epoch} (learning rate ${badLoss.learningRate}); ${remedy(badLoss.learningRate, result.standardized)}. ${NOTHING_KEPT}`,
    );
  }
  const badWeights = result.epochs.find((e) => (e.nonFiniteWeights ?? 0) > 0);
  if (badWeights) {
    const where = result.nonFinite && result.nonFinite.names.length > 0 ? ` (in ${result.nonFinite.names.join(', ')})` : '';
    const of = result.nonFinite && result.nonFinite.total > 0 ? ` of ${result.nonFinite.total}` : '';
    throw new TrainingError(
      `training diverged: ${badWeights.nonFiniteWeights}${of} weights and BatchNormalization moving statistics became NaN or Infinity ` +
        `at epoch ${badWeights.epoch}${where}, although the reported loss stayed finite (learning rate ${badWeights.learningRate}); ${remedy(badWeights.learningRate, result.standardized)}. ${NOTHING_KEPT}`,
    );
  }
  const metric = Object.entries(result.test).find(([, v]) => !Number.isFinite(v));
  if (metric) {
    throw new TrainingError(
      `training diverged: the trained model gives test ${metric[0]} = ${metric[1]} (its weights overflowed); ` +
        `${remedy(firstRate, result.standardized)}. ${NOTHING_KEPT}`,
    );
  }
  const kept = result.epochs[(result.bestEpoch ?? result.epochs.length) - 1];
  const first = result.firstBatchLoss;
  if (kept && first !== undefined && Number.isFinite(first) && first > 0 && kept.loss >= LOSS_EXPLOSION_FACTOR * first) {
    throw new TrainingError(
      `training diverged: the training loss grew from ${first.toPrecision(3)} (first batch) to ${kept.loss.toPrecision(3)} ` +
        `at epoch ${kept.epoch}, more than ${LOSS_EXPLOSION_FACTOR}×; ${remedy(firstRate, result.standardized)}. ${NOTHING_KEPT}`,
    );
  }
  const c = result.collapse;
  if (c?.collapsed) {
    throw new TrainingError(
      `training diverged: the model collapsed: it answers every training row with at least ${SATURATED_PROBABILITY * 100}% certainty ` +
        `(${c.predictedClasses === 1 ? 'always the same class' : `only ${c.predictedClasses} classes`}, accuracy ${c.accuracy.toFixed(3)} ` +
        `against ${c.majorityShare.toFixed(3)} for always answering the majority class), and its cross-entropy ${c.crossEntropy.toPrecision(3)} ` +
        `is worse than ${c.priorCrossEntropy.toPrecision(3)} for answering the class frequencies; ${remedy(firstRate, result.standardized)}. ${NOTHING_KEPT}`,
    );
  }
}
