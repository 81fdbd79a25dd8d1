import type { Dataset } from './dataset.ts';
import { sampleSize } from './dataset.ts';

export interface Standardization {
  mean: number[];
  std: number[];
}

/**
 * Per-feature (or, for images, per-channel: the last axis) mean and population std of the
 * training split. A constant feature gets std 1 so that (x − mean)/std stays finite.
 */
export function fitStandardization(train: Dataset): Standardization {
  const channels = train.inputShape[train.inputShape.length - 1];
  const count = new Float64Array(channels);
  const sum = new Float64Array(channels);
  for (let i = 0; i < train.x.length; i++) {
    sum[i % channels] += train.x[i];
    count[i % channels] += 1;
  }
  const mean = Array.from(sum, (s, c) => s / count[c]);
  const squares = new Float64Array(channels);
  for (let i = 0; i < train.x.length; i++) {
    const d = train.x[i] - mean[i % channels];
    squares[i % channels] += d * d;
  }
  const std = Array.from(squares, (s, c) => {
    const value = Math.sqrt(s / count[c]);
    return value > 0 ? value : 1;
  });
  return { mean, std };
}

export function identityStandardization(inputShape: readonly number[]): Standardization {
  const channels = inputShape[inputShape.length - 1];
  return { mean: new Array(channels).fill(0), std: new Array(channels).fill(1) };
}

export function applyStandardization(x: Float32Array, s: Standardization): Float32Array {
  const channels = s.mean.length;
  return x.map((v, i) => (v - s.mean[i % channels]) / s.std[i % channels]);
}

export function standardizeDataset(data: Dataset, s: Standardization): Dataset {
  if (sampleSize(data.inputShape) % s.mean.length !== 0) throw new Error('standardization does not match the input shape');
  return { ...data, x: applyStandardization(data.x, s) };
}
