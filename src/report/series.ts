/** Long-format rows for a cost-per-epoch chart, from the epochs stored in metrics.json. */

export interface StoredEpoch {
  epoch: number;
  loss: number;
  dataLoss: number;
  regularizationLoss: number;
  validation: Record<string, number>;
}

export interface SeriesPoint {
  epoch: number;
  series: string;
  value: number;
}

/** Training loss, and its data/regularisation parts when a regulariser is on, and the validation loss when there is one. */
export function costSeries(epochs: StoredEpoch[], prefix = ''): SeriesPoint[] {
  const regularized = epochs.some((e) => e.regularizationLoss > 0);
  const points: SeriesPoint[] = [];
  for (const e of epochs) {
    const values: [string, number | undefined][] = [
      [regularized ? 'training loss (data + regularisation)' : 'training loss', e.loss],
      ...(regularized
        ? ([
            ['data loss', e.dataLoss],
            ['regularisation loss', e.regularizationLoss],
          ] as [string, number][])
        : []),
      ['validation loss', e.validation?.valLoss],
    ];
    for (const [series, value] of values) {
      // A diverged run has non-finite losses: leave them out rather than break the scale.
      if (value !== undefined && Number.isFinite(value)) points.push({ epoch: e.epoch, series: prefix + series, value });
    }
  }
  return points;
}

export interface CostAxis {
  type: 'log' | 'linear';
  /** Log axis only: the decades shown, as tick values. */
  ticks?: number[];
  domain?: [number, number];
}

/** Values spanning this many powers of ten or more get a log10 axis. */
export const LOG_AXIS_DECADES = 2;

/** log10 when every value is positive and they span LOG_AXIS_DECADES decades or more; linear otherwise. */
export function costAxis(values: number[]): CostAxis {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0 || finite.some((v) => v <= 0)) return { type: 'linear' };
  const lo = Math.floor(Math.log10(Math.min(...finite)));
  const hi = Math.ceil(Math.log10(Math.max(...finite)));
  if (Math.log10(Math.max(...finite) / Math.min(...finite)) < LOG_AXIS_DECADES) return { type: 'linear' };
  // At most about 8 labelled decades, so that 1e-3…1e30 stays readable.
  const step = Math.max(1, Math.ceil((hi - lo) / 8));
  const ticks: number[] = [];
  for (let d = lo; d <= hi; d += step) ticks.push(Number(`1e${d}`));
  return { type: 'log', ticks, domain: [Number(`1e${lo}`), Number(`1e${Math.max(hi, lo + 1)}`)] };
}

/** Tick text: 0.001 … 1000 written out, anything else as 1e-5, 1e30 (no "+", no ".0"). */
export function tickLabel(value: number): string {
  if (value === 0) return '0';
  const exponent = Math.log10(Math.abs(value));
  if (exponent >= -3 && exponent <= 3) return String(Number(value.toPrecision(6)));
  const [mantissa, power] = value.toExponential().split('e');
  const m = Number(Number(mantissa).toPrecision(3));
  return `${m === 1 ? '' : `${m}×`}1e${Number(power)}`.replace('1×1e', '1e');
}
