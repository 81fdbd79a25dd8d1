import type { TopLevelSpec } from 'vega-lite';
import type { SeriesPoint } from './series.ts';

export interface RegionCell {
  x: number;
  y: number;
  x2: number;
  y2: number;
  label: string;
}

export interface LabelledPoint {
  x: number;
  y: number;
  label: string;
}

export function costChart(points: SeriesPoint[], title: string) {
  return {
    title,
    width: 420,
    height: 300,
    data: { values: points },
    mark: { type: 'line', point: false },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'value', type: 'quantitative', title: 'cost', scale: { type: 'symlog' } },
      color: { field: 'series', type: 'nominal', legend: { orient: 'top', columns: 2, title: null } },
    },
  } as const;
}

export function decisionRegionChart(
  cells: RegionCell[],
  points: LabelledPoint[],
  axes: { x: string; y: string },
  labels: string[],
  title: string,
) {
  const color = { field: 'label', type: 'nominal', scale: { domain: labels }, title: 'class' } as const;
  return {
    title,
    width: 360,
    height: 300,
    layer: [
      {
        data: { values: cells },
        mark: { type: 'rect', opacity: 0.35 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: axes.x, scale: { zero: false, nice: false } },
          x2: { field: 'x2' },
          y: { field: 'y', type: 'quantitative', title: axes.y, scale: { zero: false, nice: false } },
          y2: { field: 'y2' },
          color,
        },
      },
      {
        data: { values: points },
        mark: { type: 'point', filled: true, size: 30, stroke: 'black', strokeWidth: 0.5 },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'y', type: 'quantitative' },
          color,
          shape: { field: 'label', type: 'nominal', scale: { domain: labels }, legend: null },
        },
      },
    ],
  } as const;
}

export function report(charts: object[], title: string): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    hconcat: charts,
    // Loss series and classes are different things: each panel gets its own colours and legend.
    resolve: { scale: { color: 'independent', shape: 'independent' }, legend: { color: 'independent' } },
  } as unknown as TopLevelSpec;
}
