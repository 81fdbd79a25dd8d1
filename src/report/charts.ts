import type { TopLevelSpec } from 'vega-lite';
import { costAxis, tickLabel } from './series.ts';
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

/** Vega expression that writes a tick like tickLabel does (vega cannot call our function). */
const TICK_EXPR =
  "datum.value == 0 ? '0' : (abs(datum.value) >= 0.001 && abs(datum.value) <= 1000 ? format(datum.value, '~g') : " +
  "replace(replace(format(datum.value, '.0e'), 'e+', 'e'), 'e-0', 'e-'))";

/** Cost per epoch, one line with a marker per epoch for each series; log10 axis when the values span decades. */
export function costChart(points: SeriesPoint[], title: string) {
  const axis = costAxis(points.map((p) => p.value));
  const yTitle = axis.type === 'log' ? 'cost (log10 scale)' : 'cost';
  return {
    title,
    width: 420,
    height: 300,
    data: { values: points },
    mark: { type: 'line', point: { filled: true, size: 40 }, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' } },
      y: {
        field: 'value',
        type: 'quantitative',
        title: yTitle,
        scale: axis.type === 'log' ? { type: 'log', domain: axis.domain, nice: false } : { type: 'linear', zero: false },
        axis: {
          labelExpr: TICK_EXPR,
          ...(axis.ticks ? { values: axis.ticks } : {}),
          grid: true,
        },
      },
      color: { field: 'series', type: 'nominal', legend: { orient: 'bottom', direction: 'vertical', title: null, labelLimit: 0 } },
      shape: { field: 'series', type: 'nominal', legend: null },
      // Training loss and data loss nearly coincide under a small penalty: dashes keep both visible.
      strokeDash: { field: 'series', type: 'nominal', legend: null },
    },
  } as const;
}

export { tickLabel };

export function decisionRegionChart(
  cells: RegionCell[],
  points: LabelledPoint[],
  axes: { x: string; y: string },
  labels: string[],
  title: string,
) {
  const color = { field: 'label', type: 'nominal', scale: { domain: labels }, title: 'class' } as const;
  const legend = { orient: 'bottom', direction: 'vertical', labelLimit: 0, symbolOpacity: 1 } as const;
  return {
    title,
    width: 360,
    height: 300,
    layer: [
      {
        data: { values: cells },
        mark: { type: 'rect', opacity: 0.3 },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: axes.x, scale: { zero: false, nice: false } },
          x2: { field: 'x2' },
          y: { field: 'y', type: 'quantitative', title: axes.y, scale: { zero: false, nice: false } },
          y2: { field: 'y2' },
          color: { ...color, legend },
        },
      },
      {
        // Drawn after the regions: the points sit on top.
        data: { values: points },
        mark: { type: 'point', filled: true, size: 36, stroke: 'black', strokeWidth: 0.6, opacity: 1 },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'y', type: 'quantitative' },
          color: { ...color, legend },
          shape: { field: 'label', type: 'nominal', scale: { domain: labels }, title: 'class', legend },
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
    resolve: {
      scale: { color: 'independent', shape: 'independent', y: 'independent' },
      legend: { color: 'independent', shape: 'independent' },
    },
    config: { background: 'white' },
  } as unknown as TopLevelSpec;
}
