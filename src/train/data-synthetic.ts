import type { Dataset } from './dataset.ts';
import { sampleSize } from './dataset.ts';
import { createRng, normal } from './rng.ts';

export interface SyntheticOptions {
  samples: number;
  features: number;
  classes: number;
  image?: { height: number; width: number; channels: number };
  noise: number;
  scale: number;
  offset: number;
  seed: number;
}

/**
 * Gaussian blobs: every class has a random prototype (a feature vector or an image) and each
 * sample is its class prototype plus noise, then scaled and offset so raw features are not
 * already standardised.
 */
export function syntheticClassification(options: SyntheticOptions): Dataset {
  const rng = createRng(options.seed);
  const inputShape = options.image ? [options.image.height, options.image.width, options.image.channels] : [options.features];
  const size = sampleSize(inputShape);
  const prototypes = Array.from({ length: options.classes }, () => Float64Array.from({ length: size }, () => 2 * normal(rng)));
  const x = new Float32Array(options.samples * size);
  const y = new Float32Array(options.samples);
  for (let i = 0; i < options.samples; i++) {
    const cls = i % options.classes;
    y[i] = cls;
    for (let j = 0; j < size; j++) {
      x[i * size + j] = (prototypes[cls][j] + options.noise * normal(rng)) * options.scale + options.offset;
    }
  }
  const featureNames = options.image ? [] : Array.from({ length: size }, (_, j) => `x${j}`);
  return {
    x,
    y,
    inputShape,
    featureNames,
    classLabels: Array.from({ length: options.classes }, (_, c) => `class_${c}`),
    targetName: 'class',
  };
}
