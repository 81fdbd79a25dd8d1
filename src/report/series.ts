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

export function costSeries(epochs: StoredEpoch[]): SeriesPoint[] {
  const points: SeriesPoint[] = [];
  for (const e of epochs) {
    const values: [string, number | undefined][] = [
      ['training loss (data + regularisation)', e.loss],
      ['data loss', e.dataLoss],
      ['regularisation loss', e.regularizationLoss],
      ['validation loss', e.validation.valLoss],
    ];
    for (const [series, value] of values) {
      // A diverged run has non-finite losses: leave them out rather than break the scale.
      if (value !== undefined && Number.isFinite(value) && !(series === 'regularisation loss' && value === 0)) {
        points.push({ epoch: e.epoch, series, value });
      }
    }
  }
  return points;
}
