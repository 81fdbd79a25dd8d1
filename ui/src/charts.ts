// Charts with a text alternative: a summary sentence (aria) and the numbers as a table.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { fmt, h, svg } from './dom.ts';

export const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22'];

export interface Series {
  label: string;
  values: (number | null)[];
}

/** 10^exponent as a tick label: 0.001 … 1000 written out, 1e4 and beyond (and 1e-4 and below) as such. */
function powerOfTen(exponent: number): string {
  return exponent >= 4 || exponent <= -4 ? `1e${exponent}` : String(Number((10 ** exponent).toPrecision(1)));
}

/** Whole exponents between min and max, at most ~7 of them, evenly strided (a diverged loss spans 30 decades). */
function decadeExponents(min: number, max: number): number[] {
  const low = Math.ceil(min - 1e-9);
  const high = Math.floor(max + 1e-9);
  const stride = Math.max(1, Math.ceil((high - low + 1) / 7));
  const exponents: number[] = [];
  for (let e = Math.ceil(low / stride) * stride; e <= high; e += stride) exponents.push(e);
  return exponents;
}

/** A log10 axis when the positive values span two decades or more (as `bnserve report` does). */
export function spansDecades(series: Series[]): boolean {
  const positive = series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v) && v > 0);
  if (positive.length < 2) return false;
  return Math.max(...positive) / Math.min(...positive) >= 100;
}

function describe(title: string, x: number[], series: Series[], log: boolean): string {
  const parts = series.map((s) => {
    const finite = s.values.map((v, i) => [x[i], v] as const).filter(([, v]) => v !== null && Number.isFinite(v));
    if (finite.length === 0) return `${s.label}: no finite values`;
    const [firstX, first] = finite[0];
    const [lastX, last] = finite[finite.length - 1];
    const missing = s.values.length - finite.length;
    return `${s.label} from ${fmt(first)} (epoch ${firstX}) to ${fmt(last)} (epoch ${lastX})${missing ? `, ${missing} non-finite` : ''}`;
  });
  return `${title}: ${x.length} epochs, ${log ? 'log10' : 'linear'} y axis. ${parts.join('; ')}.`;
}

function dataTable(xLabel: string, x: number[], series: Series[]): HTMLElement {
  return h(
    'details',
    { class: 'data' },
    h('summary', {}, 'Data table'),
    h(
      'table',
      {},
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, xLabel), ...series.map((s) => h('th', { scope: 'col' }, s.label)))),
      h('tbody', {}, ...x.map((xv, i) => h('tr', {}, h('th', { scope: 'row' }, xv), ...series.map((s) => h('td', {}, fmt(s.values[i])))))),
    ),
  );
}

export interface LineChartOptions {
  title: string;
  xLabel?: string;
  yLabel: string;
  x: number[];
  series: Series[];
  width?: number;
  height?: number;
}

/** A line chart (one marker per point) inside a figure that carries its own text alternative. */
export function lineChart(opts: LineChartOptions): HTMLElement {
  const xLabel = opts.xLabel ?? 'epoch';
  const series = opts.series.filter((s) => s.values.some((v) => v !== null));
  const log = spansDecades(series);
  const summary = describe(opts.title, opts.x, series, log);
  const plot = h('div', { class: 'plot', role: 'img', 'aria-label': summary });
  const figure = h(
    'figure',
    { class: 'chart', 'data-series': series.length, 'data-points': opts.x.length, 'data-scale': log ? 'log' : 'linear' },
    h('figcaption', {}, opts.title, log ? h('span', { class: 'badge' }, 'log scale') : null),
    plot,
    dataTable(xLabel, opts.x, series),
  );
  // On a log axis the chart plots log10 of each value (zero and negative values become gaps) and
  // labels the ticks as powers of ten: uPlot's own log scale crowds its labels over 30 decades.
  const values = series.map((s) =>
    s.values.map((v) => (v === null || !Number.isFinite(v) || (log && v <= 0) ? null : log ? Math.log10(v) : v)),
  );
  const data = [opts.x, ...values] as uPlot.AlignedData;
  queueMicrotask(() => {
    const width = opts.width ?? Math.max(320, Math.min(860, (figure.parentElement?.clientWidth ?? 700) - 16));
    new uPlot(
      {
        width,
        height: opts.height ?? 260,
        scales: { x: { time: false } },
        axes: [
          // Epochs are whole numbers: no 0.2-steps when a run has one or two.
          { label: xLabel, incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000] },
          {
            label: opts.yLabel,
            size: 64,
            ...(log ? { splits: (_u: uPlot, _axis: number, min: number, max: number) => decadeExponents(min, max) } : {}),
            values: (_u: uPlot, splits: number[]) => splits.map((v) => (log ? powerOfTen(v) : fmt(v))),
          },
        ],
        legend: { live: false },
        cursor: { drag: { x: false, y: false } },
        series: [
          { label: xLabel },
          ...series.map((s, i) => ({
            label: s.label,
            stroke: PALETTE[i % PALETTE.length],
            width: 2,
            points: { show: opts.x.length <= 200, size: 5 },
            spanGaps: false,
          })),
        ],
      },
      data,
      plot,
    );
  });
  return figure;
}

/** A bar chart of histogram buckets (counts per bucket), drawn as SVG. */
export function barChart(title: string, buckets: { label: string; count: number }[]): HTMLElement {
  const width = 420;
  const height = 160;
  const max = Math.max(1, ...buckets.map((b) => b.count));
  const barWidth = width / Math.max(1, buckets.length);
  const total = buckets.reduce((n, b) => n + b.count, 0);
  const summary = `${title}: ${total} observations; ${
    buckets
      .filter((b) => b.count > 0)
      .map((b) => `${b.count} in ≤ ${b.label}`)
      .join(', ') || 'none yet'
  }.`;
  const chart = svg(
    'svg',
    { viewBox: `-10 0 ${width + 10} ${height + 40}`, width: width + 10, height: height + 40, role: 'img', 'aria-label': summary },
    ...buckets.flatMap((b, i) => {
      const barHeight = (b.count / max) * height;
      return [
        svg('rect', { x: i * barWidth + 2, y: height - barHeight, width: barWidth - 4, height: barHeight, fill: PALETTE[0] }),
        svg(
          'text',
          {
            x: i * barWidth + barWidth / 2,
            y: height + 12,
            'text-anchor': 'end',
            transform: `rotate(-40 ${i * barWidth + barWidth / 2} ${height + 12})`,
          },
          b.label,
        ),
      ];
    }),
  );
  return h(
    'figure',
    { class: 'chart histogram', 'data-points': buckets.length, 'data-total': total },
    h('figcaption', {}, title),
    chart,
    h(
      'details',
      { class: 'data' },
      h('summary', {}, 'Data table'),
      h(
        'table',
        {},
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'bucket (≤)'), h('th', { scope: 'col' }, 'count'))),
        h('tbody', {}, ...buckets.map((b) => h('tr', {}, h('th', { scope: 'row' }, b.label), h('td', {}, b.count)))),
      ),
    ),
  );
}
