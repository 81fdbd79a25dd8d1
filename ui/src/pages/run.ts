// One run: its curves, BN guard details, decision regions and config.
import { api, type DecisionRegions, type MetricValues, type RunDetail } from '../api.ts';
import { lineChart, PALETTE, type Series } from '../charts.ts';
import { errorBox, fmt, fmtDate, fmtDuration, h, show, svg } from '../dom.ts';
import { statusText } from './runs.ts';

const LOSS_KEYS: [string, string][] = [
  ['loss', 'loss'],
  ['dataLoss', 'data loss'],
  ['regularizationLoss', 'regularisation loss'],
  ['valLoss', 'validation loss'],
];

const ACCURACY = /accuracy$/i;
const ERRORS = /(mae|rmse)$/i;

export function seriesOf(epochs: MetricValues[], keys: [string, string][]): Series[] {
  return keys
    .filter(([key]) => epochs.some((e) => key in e))
    .map(([key, label]) => ({ label, values: epochs.map((e) => e[key] ?? null) }))
    .filter((s) => s.values.some((v) => v !== null && v !== 0) || s.label === 'loss');
}

function keysMatching(epochs: MetricValues[], pattern: RegExp): [string, string][] {
  const keys = new Set(epochs.flatMap((e) => Object.keys(e)).filter((k) => pattern.test(k)));
  return [...keys].sort().map((k) => [k, k]);
}

/** A number cell, marked (class and text for screen readers) when it is over the guard's limit. */
function limitCell(text: string, over: boolean): HTMLElement {
  return h('td', { class: over ? 'num over' : 'num' }, text, over ? h('span', { class: 'sr-only' }, ' (over the limit)') : null);
}

function bnSection(run: RunDetail): HTMLElement {
  const { steps, layers, checks, limits } = run.bnGuardDetails;
  const heading = h('h2', { id: 'bn-h' }, 'BN guard');
  if (layers.length === 0)
    return h('section', { 'aria-labelledby': 'bn-h' }, heading, h('p', {}, 'No BatchNormalization layer: nothing to check.'));
  const detail = run.bnGuard.detail ? `${run.bnGuard.detail[0].toUpperCase()}${run.bnGuard.detail.slice(1)}` : '';
  return h(
    'section',
    { 'aria-labelledby': 'bn-h' },
    heading,
    h(
      'p',
      {},
      h('span', { class: `pill bn-${run.bnGuard.verdict}` }, run.bnGuard.verdict),
      ` ${steps ?? '?'} update step${steps === 1 ? '' : 's'}. `,
      detail,
    ),
    h(
      'table',
      { id: 'bn-layers' },
      h(
        'caption',
        {},
        'Per BN layer: share of the initial statistics left (momentum^steps), and, from the exported graph, the moving statistics against the data ' +
          `(limits ${limits.maxResidual * 100} %, ${limits.maxMeanGap} std, ×${limits.maxVarianceRatio})`,
      ),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['layer', 'config index', 'momentum', 'momentum^steps', 'mean gap (std)', 'variance ratio'].map((c) =>
            h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        ...layers.map((layer, i) => {
          const check = checks?.[i];
          return h(
            'tr',
            {},
            h('th', { scope: 'row' }, check?.name ?? `BN ${i + 1}`),
            h('td', { class: 'num' }, layer.index),
            h('td', { class: 'num' }, layer.momentum),
            layer.residual === null
              ? h('td', { class: 'num' }, '—')
              : limitCell(`${fmt(layer.residual * 100)} %`, layer.residual > limits.maxResidual),
            check ? limitCell(fmt(check.meanGap), check.meanGap > limits.maxMeanGap) : h('td', { class: 'num' }, '—'),
            check ? limitCell(fmt(check.varianceRatio), check.varianceRatio > limits.maxVarianceRatio) : h('td', { class: 'num' }, '—'),
          );
        }),
      ),
    ),
  );
}

function regionsFigure(r: DecisionRegions): HTMLElement {
  const n = r.resolution;
  const size = 360;
  const cell = size / n;
  const rects: SVGElement[] = [];
  const counts = new Array(r.classes.length).fill(0);
  r.cells.forEach((c, k) => {
    counts[c]++;
    const ix = k % n;
    const iy = Math.floor(k / n);
    rects.push(
      svg('rect', {
        x: (ix * cell).toFixed(2),
        y: (size - (iy + 1) * cell).toFixed(2),
        width: (cell + 0.3).toFixed(2),
        height: (cell + 0.3).toFixed(2),
        fill: PALETTE[c % PALETTE.length],
        'fill-opacity': (0.25 + 0.5 * Math.min(1, r.confidence[k])).toFixed(2),
      }),
    );
  });
  const summary =
    `Decision regions over ${r.features[0]} (${fmt(r.xRange[0])} to ${fmt(r.xRange[1])}) and ${r.features[1]} (${fmt(r.yRange[0])} to ${fmt(r.yRange[1])}), ` +
    `${n}×${n} grid, ${r.points.length} data points: ${r.classes.map((c, i) => `${c} ${Math.round((counts[i] / r.cells.length) * 100)}%`).join(', ')}.`;
  const pad = 48;
  return h(
    'figure',
    { class: 'chart regions', 'data-points': r.cells.length },
    h('figcaption', {}, `Decision regions: ${r.features[0]} × ${r.features[1]}`),
    svg(
      'svg',
      {
        viewBox: `${-pad} -8 ${size + pad + 8} ${size + pad}`,
        width: size + pad + 8,
        height: size + pad,
        role: 'img',
        'aria-label': summary,
      },
      ...rects,
      ...r.points.map((p) =>
        svg('circle', {
          cx: (((p.x - r.xRange[0]) / (r.xRange[1] - r.xRange[0])) * size).toFixed(1),
          cy: (size - ((p.y - r.yRange[0]) / (r.yRange[1] - r.yRange[0])) * size).toFixed(1),
          r: 3,
          fill: PALETTE[p.label % PALETTE.length],
          stroke: '#000',
          'stroke-width': 0.7,
          class: 'point',
        }),
      ),
      svg('rect', { x: 0, y: 0, width: size, height: size, fill: 'none', stroke: '#444' }),
      svg('text', { x: 0, y: size + 16, 'font-size': 11 }, fmt(r.xRange[0])),
      svg('text', { x: size, y: size + 16, 'font-size': 11, 'text-anchor': 'end' }, fmt(r.xRange[1])),
      svg('text', { x: size / 2, y: size + 32, 'font-size': 12, 'text-anchor': 'middle' }, r.features[0]),
      svg('text', { x: -6, y: size, 'font-size': 11, 'text-anchor': 'end' }, fmt(r.yRange[0])),
      svg('text', { x: -6, y: 10, 'font-size': 11, 'text-anchor': 'end' }, fmt(r.yRange[1])),
      svg(
        'text',
        { x: -30, y: size / 2, 'font-size': 12, 'text-anchor': 'middle', transform: `rotate(-90 -30 ${size / 2})` },
        r.features[1],
      ),
    ),
    h(
      'ul',
      { class: 'legend' },
      ...r.classes.map((c, i) => h('li', {}, h('span', { class: 'swatch', style: `background:${PALETTE[i % PALETTE.length]}` }), c)),
    ),
    h('p', { class: 'muted' }, summary, Object.keys(r.heldAt).length ? ` Other features held at their mean.` : ''),
    r.pointsHidden ? h('p', { class: 'muted points-hidden' }, `No data points: ${r.pointsHidden}.`) : null,
  );
}

async function regionsSection(run: RunDetail): Promise<HTMLElement | null> {
  const version = run.registeredVersions.at(-1);
  if (version?.featureNames.length !== 2) return null;
  const section = h('section', { 'aria-labelledby': 'regions-h' }, h('h2', { id: 'regions-h' }, 'Decision regions'));
  try {
    section.append(regionsFigure(await api.regions(version.name, version.version)));
  } catch (error) {
    section.append(errorBox(`No decision regions: ${(error as Error).message}`));
  }
  return section;
}

export async function runPage(main: HTMLElement, id: string): Promise<void> {
  show(main, h('h1', {}, 'Run'), h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  let run: RunDetail;
  try {
    run = await api.run(id);
  } catch (error) {
    show(main, h('h1', {}, 'Run'), errorBox((error as Error).message));
    return;
  }
  const epochs = run.epochMetrics;
  const x = epochs.map((e) => e.epoch ?? 0);
  const accuracy = seriesOf(epochs, keysMatching(epochs, ACCURACY));
  const errors = seriesOf(epochs, keysMatching(epochs, ERRORS));
  const status = statusText(run);
  show(
    main,
    h('h1', {}, `Run ${run.name} `, h('span', { class: `pill ${status}` }, status)),
    run.error ? h('p', { class: status === 'diverged' ? 'error' : 'warn', role: 'note' }, run.error) : null,
    h(
      'dl',
      { class: 'facts' },
      ...(
        [
          ['Run id', run.id],
          ['Backend', run.backend],
          ['Seed', run.seed ?? '—'],
          ['Epochs', run.epochs],
          ['Started', fmtDate(run.startedAt)],
          ['Duration', fmtDuration(run.durationSeconds)],
        ] as [string, string | number][]
      ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      h('dt', {}, 'Registered version'),
      h(
        'dd',
        {},
        run.registeredVersions.length === 0
          ? 'none (no export, or the run failed)'
          : h(
              'span',
              {},
              ...run.registeredVersions.map((v) =>
                h('a', { href: `#/models?model=${v.name}&version=${v.version}`, class: 'version-link' }, `${v.name} v${v.version}`),
              ),
            ),
      ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'curves-h' },
      h('h2', { id: 'curves-h' }, 'Curves'),
      h(
        'div',
        { class: 'charts' },
        lineChart({ title: 'Loss per epoch', yLabel: 'loss', x, series: seriesOf(epochs, LOSS_KEYS) }),
        accuracy.length ? lineChart({ title: 'Accuracy per epoch', yLabel: 'accuracy', x, series: accuracy }) : null,
        errors.length ? lineChart({ title: 'MAE / RMSE per epoch', yLabel: 'error', x, series: errors }) : null,
      ),
    ),
    bnSection(run),
    h('div', { id: 'regions-slot' }),
    h(
      'section',
      { 'aria-labelledby': 'config-h' },
      h('h2', { id: 'config-h' }, 'Config (as trained: the submitted config with defaults filled in)'),
      h('pre', { class: 'config', tabindex: 0 }, JSON.stringify(run.config, null, 2)),
    ),
  );
  const regions = await regionsSection(run);
  if (regions) main.querySelector('#regions-slot')?.replaceWith(regions);
}
