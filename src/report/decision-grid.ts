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

/**
 * Why one axis of a grid cannot be evaluated in float32 (the models' input type), or null when it
 * can: its bounds, its span and every one of its grid points must be finite, and the points distinct.
 */
export function float32AxisProblem(range: [number, number], resolution: number): string | null {
  const [min, max] = [Math.fround(range[0]), Math.fround(range[1])];
  if (!Number.isFinite(min) || !Number.isFinite(max)) return 'its bounds must be finite float32 numbers (|value| ≤ 3.4e38)';
  if (!(range[0] < range[1])) return 'its minimum must be below its maximum';
  if (!(min < max)) return 'its bounds are equal in float32: widen the range';
  if (!Number.isFinite(Math.fround(max - min))) return 'its span (maximum − minimum) overflows float32';
  let previous = min;
  for (let i = 1; i < resolution; i++) {
    const point = Math.fround(range[0] + ((range[1] - range[0]) * i) / (resolution - 1));
    if (!(point > previous)) return `its ${resolution} grid points are not distinct in float32: widen the range or lower the resolution`;
    previous = point;
  }
  return null;
}
