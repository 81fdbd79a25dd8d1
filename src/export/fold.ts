// Batch-normalisation folding as pure float64 arithmetic. Callers convert to float32 once, at the end.
//
// Layouts follow tfjs: a Dense kernel is [in, out] row-major, a Conv2D kernel is [kh, kw, in, out].
// A BatchNormalization over the last axis computes y = (x − μ)/√(var + ε)·γ + β, i.e. y = x·s + t with
// s = γ/√(var + ε) and t = β − μ·s.

export interface BnParams {
  gamma: Float64Array;
  beta: Float64Array;
  movingMean: Float64Array;
  movingVariance: Float64Array;
  epsilon: number;
}

/** A per-channel affine map y = x·scale + shift over the last axis. */
export interface ScaleShift {
  scale: Float64Array;
  shift: Float64Array;
}

export interface DenseParams {
  /** [inUnits, units], row-major. */
  kernel: Float64Array;
  bias: Float64Array | null;
  inUnits: number;
  units: number;
}

export interface ConvParams {
  /** [kh, kw, inChannels, filters], row-major (tfjs layout). */
  kernel: Float64Array;
  bias: Float64Array | null;
  kernelSize: [number, number];
  inChannels: number;
  filters: number;
}

export interface AffineResult {
  kernel: Float64Array;
  bias: Float64Array;
}

export function bnAsScaleShift(bn: BnParams): ScaleShift {
  const n = bn.gamma.length;
  const scale = new Float64Array(n);
  const shift = new Float64Array(n);
  for (let c = 0; c < n; c++) {
    scale[c] = bn.gamma[c] / Math.sqrt(bn.movingVariance[c] + bn.epsilon);
    shift[c] = bn.beta[c] - bn.movingMean[c] * scale[c];
  }
  return { scale, shift };
}

/** Standardisation (x − mean)/std as the equivalent affine map. */
export function standardizationAsScaleShift(mean: Float64Array, std: Float64Array): ScaleShift {
  const scale = new Float64Array(mean.length);
  const shift = new Float64Array(mean.length);
  for (let i = 0; i < mean.length; i++) {
    scale[i] = 1 / std[i];
    shift[i] = -mean[i] / std[i];
  }
  return { scale, shift };
}

/** Every weight times the scale of the output channel it feeds: W′[i] = W[i]·s[channelOf(i)]. */
export function scaleWeights(kernel: Float64Array, channelOf: (index: number) => number, ss: ScaleShift): Float64Array {
  const folded = new Float64Array(kernel.length);
  for (let i = 0; i < kernel.length; i++) folded[i] = kernel[i] * ss.scale[channelOf(i)];
  return folded;
}

/** b′ = b·s + t per output channel, i.e. (b − μ)·s + β for a BN; b = 0 for a layer without bias. */
export function shiftBias(bias: ArrayLike<number> | null, ss: ScaleShift): Float64Array {
  const folded = new Float64Array(ss.scale.length);
  for (let o = 0; o < folded.length; o++) folded[o] = (bias ? bias[o] : 0) * ss.scale[o] + ss.shift[o];
  return folded;
}

/** Applies an affine map on the output channels of a layer whose kernel's last axis is the output channel. */
function scaleOutputChannels(kernel: Float64Array, bias: Float64Array | null, outChannels: number, ss: ScaleShift): AffineResult {
  return { kernel: scaleWeights(kernel, (i) => i % outChannels, ss), bias: shiftBias(bias, ss) };
}

/** Dense → BN: W′[:, j] = W[:, j]·s_j, b′ = (b − μ)·s + β (b = 0 without bias). */
export function foldBnIntoDense(dense: DenseParams, bn: BnParams): AffineResult {
  assertLength('BatchNormalization after Dense', bn.gamma.length, dense.units);
  return scaleOutputChannels(dense.kernel, dense.bias, dense.units, bnAsScaleShift(bn));
}

/** Conv2D → BN: the same per output channel (the last kernel axis in the tfjs layout). */
export function foldBnIntoConv(conv: ConvParams, bn: BnParams): AffineResult {
  assertLength('BatchNormalization after Conv2D', bn.gamma.length, conv.filters);
  return scaleOutputChannels(conv.kernel, conv.bias, conv.filters, bnAsScaleShift(bn));
}

/**
 * Affine map → Dense (always exact): W′[r, :] = s_c·W[r, :], b′ = b + Σ_r t_c·W[r, :], with c = r mod len(s).
 * A map shorter than the Dense input is per channel of an NHWC tensor flattened before the Dense
 * (channels vary fastest in tfjs's Flatten).
 */
export function foldScaleShiftIntoNextDense(ss: ScaleShift, dense: DenseParams): AffineResult {
  const channels = ss.scale.length;
  if (channels === 0 || dense.inUnits % channels !== 0) {
    throw new RangeError(`a per-channel map of length ${channels} cannot feed a Dense with ${dense.inUnits} inputs`);
  }
  const kernel = new Float64Array(dense.kernel.length);
  const bias = new Float64Array(dense.units);
  if (dense.bias) bias.set(dense.bias);
  for (let r = 0; r < dense.inUnits; r++) {
    const s = ss.scale[r % channels];
    const t = ss.shift[r % channels];
    for (let j = 0; j < dense.units; j++) {
      const w = dense.kernel[r * dense.units + j];
      kernel[r * dense.units + j] = w * s;
      bias[j] += w * t;
    }
  }
  return { kernel, bias };
}

/**
 * Affine map → Conv2D. Exact only for 'valid' padding: with 'same' padding the zero border would be
 * shifted too, so callers must not use it there.
 */
export function foldScaleShiftIntoNextConv(ss: ScaleShift, conv: ConvParams): AffineResult {
  assertLength('per-channel map before Conv2D', ss.scale.length, conv.inChannels);
  const { inChannels, filters } = conv;
  const kernel = new Float64Array(conv.kernel.length);
  const bias = new Float64Array(filters);
  if (conv.bias) bias.set(conv.bias);
  for (let i = 0; i < conv.kernel.length; i++) {
    const inChannel = Math.floor(i / filters) % inChannels;
    kernel[i] = conv.kernel[i] * ss.scale[inChannel];
    bias[i % filters] += conv.kernel[i] * ss.shift[inChannel];
  }
  return { kernel, bias };
}

/** BN → Dense (exact): the BN's frozen affine map moves into the Dense's weights. */
export function foldBnForwardIntoDense(bn: BnParams, dense: DenseParams): AffineResult {
  return foldScaleShiftIntoNextDense(bnAsScaleShift(bn), dense);
}

/**
 * Input standardisation folded into the first layer: always exact for Dense, for Conv2D only with
 * 'valid' padding (returns null otherwise; emit Sub/Div instead).
 */
export function foldStandardization(
  mean: Float64Array,
  std: Float64Array,
  layer: { kind: 'dense'; params: DenseParams } | { kind: 'conv'; params: ConvParams; padding: 'same' | 'valid' },
): AffineResult | null {
  const ss = standardizationAsScaleShift(mean, std);
  if (layer.kind === 'dense') return foldScaleShiftIntoNextDense(ss, layer.params);
  if (layer.padding !== 'valid') return null;
  return foldScaleShiftIntoNextConv(ss, layer.params);
}

function assertLength(what: string, actual: number, expected: number): void {
  if (actual !== expected) throw new RangeError(`${what}: ${actual} channels, expected ${expected}`);
}
