// Dense MLP graphs built directly (no training), for the precision tests and bench/precision.ts.
import { buildOnnxModel } from '../../src/export/onnx/from-ops.ts';
import type { Op } from '../../src/export/ops.ts';
import { createRng, normal } from '../../src/train/rng.ts';

/** A dense MLP (relu, softmax at the end), He-initialised from a seed; `tweak` edits layer weights before building. */
export function mlp(sizes: number[], seed: number, tweak?: (layer: number, kernel: Float64Array, bias: Float64Array) => void) {
  const rng = createRng(seed);
  const ops: Op[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    const [a, b] = [sizes[i], sizes[i + 1]];
    const kernel = Float64Array.from({ length: a * b }, () => normal(rng) * Math.sqrt(2 / a));
    const bias = Float64Array.from({ length: b }, () => 0.1 * normal(rng));
    tweak?.(i, kernel, bias);
    ops.push({ kind: 'dense', name: `dense${i}`, kernel, bias, inUnits: a, units: b });
    ops.push({ kind: 'activation', name: `act${i}`, activation: i + 2 < sizes.length ? 'relu' : 'softmax' });
  }
  return buildOnnxModel(ops, {
    inputShape: [sizes[0]],
    outputName: 'probabilities',
    opset: 17,
    irVersion: 8,
    producerName: 'test',
    producerVersion: '0',
    metadata: { producer: 'test' },
  });
}

/**
 * An MLP int8 genuinely breaks: hidden unit 0 of the first layer always outputs ~1e4 (bias) and nothing
 * reads it (zero outgoing weights) — harmless in fp32, but per-tensor activation quantization then has a
 * step of ~40, so every other hidden unit rounds to 0 and the int8 model answers one class for every row.
 */
export function badForInt8(sizes = [64, 256, 256, 10], seed = 3) {
  return mlp(sizes, seed, (layer, kernel, bias) => {
    if (layer === 0) bias[0] = 1e4;
    if (layer === 1) for (let j = 0; j < sizes[2]; j++) kernel[j] = 0; // row 0: the weights from hidden unit 0
    if (layer === 2) for (let i = 0; i < kernel.length; i++) kernel[i] *= 4;
  });
}
