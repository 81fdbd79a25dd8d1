/**
 * A grid over two features for decision-region plots; every other feature is held at its
 * training mean, so the picture is the model's answer on that 2-D slice of the input space.
 */
export interface GridSpec {
  featureCount: number;
  xFeature: number;
  yFeature: number;
  xRange: [number, number];
  yRange: [number, number];
  resolution: number;
  /** Values of the other features (the training means). */
  fill: number[];
}

export function gridRows(spec: GridSpec): Float32Array {
  const { resolution: n, featureCount } = spec;
  const rows = new Float32Array(n * n * featureCount);
  for (let iy = 0; iy < n; iy++) {
    for (let ix = 0; ix < n; ix++) {
      const offset = (iy * n + ix) * featureCount;
      rows.set(spec.fill, offset);
      rows[offset + spec.xFeature] = spec.xRange[0] + ((spec.xRange[1] - spec.xRange[0]) * ix) / (n - 1);
      rows[offset + spec.yFeature] = spec.yRange[0] + ((spec.yRange[1] - spec.yRange[0]) * iy) / (n - 1);
    }
  }
  return rows;
}

/** Data range of one feature, padded by a tenth of its width on each side. */
export function paddedRange(x: Float32Array, featureCount: number, feature: number): [number, number] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = feature; i < x.length; i += featureCount) {
    min = Math.min(min, x[i]);
    max = Math.max(max, x[i]);
  }
  const pad = (max - min || 1) / 10;
  return [min - pad, max + pad];
}
