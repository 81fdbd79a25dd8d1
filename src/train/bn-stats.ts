/** Fraction of the initial moving value (0 or 1) still left after `steps` updates: momentum^steps. */
export function bnResidual(momentum: number, steps: number): number {
  return Math.pow(momentum, steps);
}

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
  stale: boolean;
  message?: string;
}

/** Flags models whose moving statistics still mostly hold their 0/1 initial values. */
export function bnGuard(layers: BnLayerState[], steps: number, threshold: number): BnGuard {
  if (layers.length === 0) return { steps, residual: 0, stale: false };
  const worst = layers.reduce((a, b) => (bnResidual(a.momentum, steps) >= bnResidual(b.momentum, steps) ? a : b));
  const residual = bnResidual(worst.momentum, steps);
  const stale = residual > threshold;
  return {
    steps,
    residual,
    stale,
    message: stale
      ? `BN layer ${worst.name}: after ${steps} update steps with momentum ${worst.momentum}, ` +
        `${(residual * 100).toFixed(1)}% of the initial moving mean/variance (0/1) is still in the statistics; ` +
        `train longer, use smaller batches or a lower momentum`
      : undefined,
  };
}
