/** Metrics from predictions, computed in float64 so they do not depend on the backend. */

export function argmax(row: ArrayLike<number>, offset: number, width: number): number {
  let best = 0;
  for (let j = 1; j < width; j++) if (row[offset + j] > row[offset + best]) best = j;
  return best;
}

export function accuracy(probabilities: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (argmax(probabilities, i * classes, classes) === labels[i]) correct++;
  return labels.length === 0 ? 0 : correct / labels.length;
}

/** Mean categorical cross-entropy with probabilities clipped like Keras (1e-7). */
export function crossEntropy(probabilities: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let total = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(probabilities[i * classes + labels[i]], 1e-7), 1 - 1e-7);
    total -= Math.log(p);
  }
  return labels.length === 0 ? 0 : total / labels.length;
}

/** The class of a ±1 binary linear classifier: the sign of its output (0 counts as +1, like the tutorial's where(≥ 0)). */
export function predictSign(output: number): -1 | 1 {
  return output >= 0 ? 1 : -1;
}

/** Share of rows whose predicted sign is the target's (targets are −1/+1). */
export function signAccuracy(outputs: ArrayLike<number>, targets: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < targets.length; i++) if (predictSign(outputs[i]) === Math.sign(targets[i])) correct++;
  return targets.length === 0 ? 0 : correct / targets.length;
}

export function meanSquaredError(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < targets.length; i++) total += (predictions[i] - targets[i]) ** 2;
  return targets.length === 0 ? 0 : total / targets.length;
}

export function meanAbsoluteError(predictions: ArrayLike<number>, targets: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < targets.length; i++) total += Math.abs(predictions[i] - targets[i]);
  return targets.length === 0 ? 0 : total / targets.length;
}

/** Keras/tfjs l1l2 regulariser value: l1·Σ|w| + l2·Σw². */
export function regularizationPenalty(weights: ArrayLike<number>, l1: number, l2: number): number {
  let abs = 0;
  let squares = 0;
  for (let i = 0; i < weights.length; i++) {
    abs += Math.abs(weights[i]);
    squares += weights[i] * weights[i];
  }
  return l1 * abs + l2 * squares;
}

/** Learning rate at a 0-based epoch under an optional decay schedule. */
export function learningRateAt(base: number, epoch: number, decay?: { type: 'exponential' | 'step'; rate: number; every: number }): number {
  if (!decay) return base;
  const exponent = decay.type === 'exponential' ? epoch / decay.every : Math.floor(epoch / decay.every);
  return base * decay.rate ** exponent;
}
