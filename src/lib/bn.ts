// BatchNormalization facts that the trainer, the checkpoint reader and the dashboard (server and UI)
// share: the layer's defaults, the BN guard's default limits, the guard's verdicts and momentum^steps.
// Their one owner. Pure: no tfjs, no Node APIs (the dashboard UI type-checks against this module).

/**
 * A BatchNormalization layer's defaults (Keras's and tfjs's, so a config and a model.json that leave
 * them out agree): moving ← momentum·moving + (1−momentum)·batch; y = (x−μ)/√(var+ε)·γ+β.
 */
export const BN_LAYER_DEFAULTS = { momentum: 0.99, epsilon: 0.001, center: true, scale: true } as const;

/** When the BN guard calls a layer's moving statistics stale. */
export interface BnGuardLimits {
  /** momentum^steps of any BN layer above this: too much of the initial 0/1 left. */
  maxResidual: number;
  /** |moving mean − data mean| in data standard deviations, on the training split. */
  maxMeanGap: number;
  /** max(moving var / data var, data var / moving var) on the training split. */
  maxVarianceRatio: number;
}

/** The guard's limits when a config sets none (bnGuard in src/lib/train-config-schema.ts). */
export const BN_GUARD_DEFAULTS: Readonly<BnGuardLimits> = Object.freeze({ maxResidual: 0.05, maxMeanGap: 1, maxVarianceRatio: 2.5 });

/**
 * The dashboard's verdict on a run: "ok" (a registered version passed the guard), "flagged" (the guard
 * warned, or too few steps for the momentum), "no-bn" (nothing to check), "unchecked" (no version, so
 * the statistics were never compared with the data).
 */
export const BN_VERDICTS = ['ok', 'flagged', 'no-bn', 'unchecked'] as const;
export type BnVerdict = (typeof BN_VERDICTS)[number];

/** Fraction of the initial moving value (0 or 1) still left after `steps` updates: momentum^steps. */
export function bnResidual(momentum: number, steps: number): number {
  return momentum ** steps;
}

/** How far a BN layer's frozen statistics are from those of what reaches it (the BN guard's per-layer check). */
export interface BnLayerCheck {
  name: string;
  /** max over channels of |moving_mean − data mean| / √(data variance + ε). */
  meanGap: number;
  /** max over channels of max(moving_var/data var, data var/moving_var). */
  varianceRatio: number;
}

/**
 * Per-channel mean and biased variance over every axis but the channel axis, in float64. `inner` is
 * the number of elements after the channel axis: 1 for channels last (tfjs), H·W for NCHW (ONNX).
 */
export function channelMoments(values: ArrayLike<number>, channels: number, inner = 1): { mean: Float64Array; variance: Float64Array } {
  const count = values.length / channels;
  const channelOf = (i: number) => Math.floor(i / inner) % channels;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) mean[channelOf(i)] += values[i];
  for (let c = 0; c < channels; c++) mean[c] /= count;
  for (let i = 0; i < values.length; i++) variance[channelOf(i)] += (values[i] - mean[channelOf(i)]) ** 2;
  for (let c = 0; c < channels; c++) variance[c] /= count;
  return { mean, variance };
}

export function compareMoments(
  name: string,
  moving: { mean: ArrayLike<number>; variance: ArrayLike<number> },
  data: { mean: ArrayLike<number>; variance: ArrayLike<number> },
  epsilon: number,
): BnLayerCheck {
  let meanGap = 0;
  let varianceRatio = 1;
  for (let c = 0; c < data.mean.length; c++) {
    meanGap = Math.max(meanGap, Math.abs(moving.mean[c] - data.mean[c]) / Math.sqrt(data.variance[c] + epsilon));
    const a = moving.variance[c] + epsilon;
    const b = data.variance[c] + epsilon;
    varianceRatio = Math.max(varianceRatio, a / b, b / a);
  }
  return { name, meanGap, varianceRatio };
}
