/** Samples stored flat: sample i occupies x[i*sampleSize .. (i+1)*sampleSize). */
export interface Dataset {
  x: Float32Array;
  /** Class index (classification) or target value (regression), one per sample. */
  y: Float32Array;
  /** Shape of one sample: [features] or [height, width, channels]. */
  inputShape: number[];
  featureNames: string[];
  /** Classification only: labels in output order. */
  classLabels: string[];
  targetName: string;
  /** Set when a labelMap sends every label to −1 or +1: a binary linear classifier, predicted by sign. */
  signClasses?: { negative: string; positive: string };
}

export function sampleSize(inputShape: readonly number[]): number {
  return inputShape.reduce((a, b) => a * b, 1);
}

export function datasetSize(data: Dataset): number {
  return data.y.length;
}

export function subset(data: Dataset, indices: ArrayLike<number>): Dataset {
  const size = sampleSize(data.inputShape);
  const x = new Float32Array(indices.length * size);
  const y = new Float32Array(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    x.set(data.x.subarray(i * size, (i + 1) * size), k * size);
    y[k] = data.y[i];
  }
  return { ...data, x, y };
}
