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
