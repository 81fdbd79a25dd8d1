import { type BnGuardLimits, bnResidual } from '../lib/bn.ts';
import type { BnLayerCheck } from '../lib/bn.ts';

/** Closed form of `steps` updates towards a constant batch statistic: d^k·m0 + (1−d^k)·batch. */
export function movingStatAfter(initial: number, batchStat: number, momentum: number, steps: number): number {
  const r = bnResidual(momentum, steps);
  return r * initial + (1 - r) * batchStat;
}

export interface BnLayerState {
  name: string;
  momentum: number;
}

export interface BnGuard {
  steps: number;
  /** The largest momentum^steps over all BN layers. */
  residual: number;
  /** Moving statistics against the statistics of what reaches each BN layer on the training split. */
  layers: BnLayerCheck[];
  stale: boolean;
  message?: string;
}

/**
 * Flags models whose moving statistics cannot be trusted at inference: too few update steps for
 * the momentum (most of the initial 0/1 still in them), or statistics that do not match what the
 * layer actually sees on the training data (never updated, not saved, or left behind).
 */
export function bnGuard(layers: BnLayerState[], steps: number, checks: BnLayerCheck[], limits: BnGuardLimits): BnGuard {
  const problems: string[] = [];
  let residual = 0;
  for (const layer of layers) {
    const r = bnResidual(layer.momentum, steps);
    residual = Math.max(residual, r);
    if (r > limits.maxResidual) {
      problems.push(
        `${layer.name}: after ${steps} update steps with momentum ${layer.momentum}, ${(r * 100).toFixed(1)}% of the ` +
          `initial moving mean/variance (0/1) is still in the statistics (train longer, use smaller batches or a lower momentum)`,
      );
    }
  }
  for (const check of checks) {
    if (check.meanGap > limits.maxMeanGap || check.varianceRatio > limits.maxVarianceRatio) {
      problems.push(
        `${check.name}: moving statistics do not match the training data it sees (mean off by ${check.meanGap.toFixed(2)} std, ` +
          `variance off by a factor of ${check.varianceRatio.toFixed(2)})`,
      );
    }
  }
  return {
    steps,
    residual,
    layers: checks,
    stale: problems.length > 0,
    message: problems.length > 0 ? `BatchNormalization statistics look stale: ${problems.join('; ')}` : undefined,
  };
}
