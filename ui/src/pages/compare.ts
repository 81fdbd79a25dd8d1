// Compare: the loss (and validation loss) of two or more runs in one chart.
import { api, type RunDetail, type RunSummary } from '../api.ts';
import { lineChart, type Series } from '../charts.ts';
import { errorBox, fmt, h, show } from '../dom.ts';
import { statusText } from './runs.ts';

function label(run: RunSummary): string {
  const lr = ((run as RunDetail).config as { optimizer?: { learningRate?: number } } | undefined)?.optimizer?.learningRate;
  return `${run.name} ${run.id.slice(0, 6)}${lr !== undefined ? ` (η ${lr})` : ''}`;
}

function overlay(runs: RunDetail[], key: string): { x: number[]; series: Series[] } {
  const longest = runs.reduce((a, b) => (b.epochMetrics.length > a.epochMetrics.length ? b : a));
  const x = longest.epochMetrics.map((e, i) => e.epoch ?? i);
  const series = runs
    .map((r) => ({ label: label(r), values: x.map((_, i) => r.epochMetrics[i]?.[key] ?? null) }))
    .filter((s) => s.values.some((v) => v !== null));
  return { x, series };
}

async function picker(main: HTMLElement): Promise<void> {
  const { runs } = await api.runs();
  const form = h('form', { class: 'picker' });
  const list = h('fieldset', {}, h('legend', {}, 'Runs to overlay (two or more)'));
  for (const run of runs.slice(0, 200)) {
    const id = `pick-${run.id}`;
    list.append(
      h(
        'div',
        {},
        h('input', { type: 'checkbox', id, name: 'ids', value: run.id }),
        h('label', { for: id }, ` ${run.name} ${run.id.slice(0, 8)} — ${statusText(run)}, loss ${fmt(run.finalMetrics?.loss)}`),
      ),
    );
  }
  form.append(list, h('button', { type: 'submit' }, 'Compare'));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const ids = [...form.querySelectorAll<HTMLInputElement>('input:checked')].map((i) => i.value);
    location.hash = `#/compare?ids=${ids.join(',')}`;
  });
  show(main, h('h1', {}, 'Compare runs'), h('p', {}, 'Pick runs here, or tick them on the Runs page.'), form);
}

export async function comparePage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const ids = (params.get('ids') ?? '').split(',').filter(Boolean);
  if (ids.length < 2) return picker(main);
  show(main, h('h1', {}, 'Compare runs'), h('p', { class: 'muted', role: 'status' }, 'Loading…'));
  let runs: RunDetail[];
  try {
    runs = await Promise.all(ids.map((id) => api.run(id)));
  } catch (error) {
    show(main, h('h1', {}, 'Compare runs'), errorBox((error as Error).message));
    return;
  }
  const loss = overlay(runs, 'loss');
  const val = overlay(runs, 'valLoss');
  show(
    main,
    h('h1', {}, `Compare ${runs.length} runs`),
    h(
      'div',
      { class: 'charts' },
      lineChart({ title: 'Training loss per epoch', yLabel: 'loss', ...loss }),
      val.series.length ? lineChart({ title: 'Validation loss per epoch', yLabel: 'validation loss', ...val }) : null,
    ),
    h(
      'table',
      { id: 'compare-table' },
      h('caption', {}, 'Runs compared'),
      h('thead', {}, h('tr', {}, ...['run', 'status', 'learning rate', 'epochs', 'final loss'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        ...runs.map((r) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, h('a', { href: `#/runs/${r.id}` }, label(r))),
            h('td', {}, statusText(r)),
            h('td', { class: 'num' }, fmt((r.config as { optimizer?: { learningRate?: number } })?.optimizer?.learningRate)),
            h('td', { class: 'num' }, r.epochs),
            h('td', { class: 'num' }, fmt(r.finalMetrics?.loss)),
          ),
        ),
      ),
    ),
  );
}
