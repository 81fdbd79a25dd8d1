// Random op-chain building blocks for the folding and lowering tests (seeded, so deterministic).
import type { BnParams } from '../../src/export/fold.ts';
import type { Op } from '../../src/export/ops.ts';
import { createRng } from '../../src/train/rng.ts';
import type { Tensor } from './reference.ts';

export type DenseOp = Extract<Op, { kind: 'dense' }>;
export type ConvOp = Extract<Op, { kind: 'conv' }>;

export function randomOps(seed: number) {
  const rng = createRng(seed);
  const uniform = (n: number, lo: number, hi: number) => Float64Array.from({ length: n }, () => lo + (hi - lo) * rng());

  const dense = (inUnits: number, units: number, useBias = true): DenseOp => ({
    kind: 'dense',
    name: 'dense',
    kernel: uniform(inUnits * units, -1, 1),
    bias: useBias ? uniform(units, -1, 1) : null,
    inUnits,
    units,
  });

  const conv = (
    inChannels: number,
    filters: number,
    padding: 'same' | 'valid',
    strides: [number, number] = [1, 1],
    dilations: [number, number] = [1, 1],
  ): ConvOp => ({
    kind: 'conv',
    name: 'conv',
    kernel: uniform(3 * 3 * inChannels * filters, -1, 1),
    bias: uniform(filters, -1, 1),
    kernelSize: [3, 3],
    inChannels,
    filters,
    strides,
    dilations,
    padding,
  });

  /** γ with negative entries, non-zero means, variances small enough that ε changes the result. */
  const bnParams = (n: number, epsilon: number, variance: [number, number] = [1e-4, 3e-3]): BnParams => ({
    gamma: uniform(n, 0.5, 2).map((g, i) => (i % 2 === 0 ? -g : g)),
    beta: uniform(n, -1, 1),
    movingMean: uniform(n, -2, 2),
    movingVariance: uniform(n, variance[0], variance[1]),
    epsilon,
  });

  const bn = (n: number, epsilon: number, variance?: [number, number]): Op => ({
    kind: 'batchNorm',
    name: 'bn',
    bn: bnParams(n, epsilon, variance),
  });

  const input = (shape: number[], lo = -3, hi = 3): Tensor => ({
    shape,
    data: uniform(
      shape.reduce((a, b) => a * b, 1),
      lo,
      hi,
    ),
  });

  return { uniform, dense, conv, bnParams, bn, input };
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
  return a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);
}
