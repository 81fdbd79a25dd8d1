// Runs: every training run in a sortable, filterable table; tick runs to compare them.
import { api, type RunSummary } from '../api.ts';
import { errorBox, fmt, fmtDate, fmtDuration, h, show } from '../dom.ts';

type Key = 'name' | 'status' | 'backend' | 'epochs' | 'duration' | 'loss' | 'metric' | 'bn' | 'started';

const COLUMNS: { key: Key; label: string }[] = [
  { key: 'name', label: 'Name' },
  { key: 'status', label: 'Status' },
  { key: 'backend', label: 'Backend' },
  { key: 'epochs', label: 'Epochs' },
  { key: 'duration', label: 'Duration' },
  { key: 'loss', label: 'Final loss' },
  { key: 'metric', label: 'Final metrics' },
  { key: 'bn', label: 'BN guard' },
  { key: 'started', label: 'Started' },
];

export function statusText(run: RunSummary): string {
  return run.diverged ? 'diverged' : run.status;
}

/** The run's headline metric: validation accuracy, else accuracy, else RMSE/MAE. */
function headline(run: RunSummary): [string, number] | null {
  const m = run.finalMetrics ?? {};
  for (const key of ['valAccuracy', 'accuracy', 'trainAccuracy', 'testAccuracy', 'valRmse', 'rmse', 'valMae', 'mae']) {
    const v = m[key];
    if (typeof v === 'number') return [key, v];
  }
  return null;
}

function sortValue(run: RunSummary, key: Key): string | number {
  switch (key) {
    case 'name':
      return run.name;
    case 'status':
      return statusText(run);
    case 'backend':
      return run.backend;
    case 'epochs':
      return run.epochs;
    case 'duration':
      return run.durationSeconds ?? Number.POSITIVE_INFINITY;
    case 'loss':
      return run.finalMetrics?.loss ?? Number.POSITIVE_INFINITY;
    case 'metric':
      return headline(run)?.[1] ?? Number.NEGATIVE_INFINITY;
    case 'bn':
      return run.bnGuard.verdict;
    case 'started':
      return run.startedAt;
  }
}

export async function runsPage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const state = {
    name: params.get('name') ?? '',
    status: params.get('status') ?? '',
    sort: (params.get('sort') as Key) ?? 'started',
    desc: params.get('dir') !== 'asc',
  };
  const selected = new Set<string>();
  show(main, h('h1', {}, 'Training runs'), h('p', { class: 'muted', role: 'status' }, 'Loading runs…'));
  let runs: RunSummary[];
  try {
    runs = (await api.runs()).runs;
  } catch (error) {
    show(main, h('h1', {}, 'Training runs'), errorBox(`Could not load the runs: ${(error as Error).message}`));
    return;
  }

  const names = [...new Set(runs.map((r) => r.name))].sort();
  const nameSelect = h(
    'select',
    { id: 'filter-name', name: 'name' },
    h('option', { value: '' }, 'all models'),
    ...names.map((n) => h('option', { value: n }, n)),
  );
  nameSelect.value = state.name;
  const statusSelect = h(
    'select',
    { id: 'filter-status', name: 'status' },
    ...['', 'succeeded', 'failed', 'diverged', 'running'].map((s) => h('option', { value: s }, s || 'any status')),
  );
  statusSelect.value = state.status;
  const count = h('p', { class: 'muted', role: 'status', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const headRow = h('tr', {}, h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Compare')));
  const compareLink = h(
    'a',
    { href: '#/compare', class: 'button', id: 'compare-selected', 'aria-disabled': 'true' },
    'Compare selected (0)',
  );

  const updateCompare = () => {
    compareLink.textContent = `Compare selected (${selected.size})`;
    compareLink.setAttribute('href', `#/compare?ids=${[...selected].join(',')}`);
    compareLink.setAttribute('aria-disabled', String(selected.size < 2));
  };

  const syncHash = () => {
    const q = new URLSearchParams();
    if (state.name) q.set('name', state.name);
    if (state.status) q.set('status', state.status);
    if (state.sort !== 'started') q.set('sort', state.sort);
    if (!state.desc) q.set('dir', 'asc');
    history.replaceState(null, '', `#/runs${q.size ? `?${q}` : ''}`);
  };

  const render = () => {
    const shown = runs
      .filter(
        (r) =>
          (!state.name || r.name === state.name) &&
          (!state.status || statusText(r) === state.status || (state.status === 'failed' && r.status === 'failed')),
      )
      .sort((a, b) => {
        const x = sortValue(a, state.sort);
        const y = sortValue(b, state.sort);
        const order = x < y ? -1 : x > y ? 1 : 0;
        return state.desc ? -order : order;
      });
    for (const th of headRow.querySelectorAll<HTMLElement>('th[data-key]')) {
      th.setAttribute('aria-sort', th.dataset.key === state.sort ? (state.desc ? 'descending' : 'ascending') : 'none');
    }
    tbody.replaceChildren(
      ...shown.map((run) => {
        const metric = headline(run);
        const box = h('input', {
          type: 'checkbox',
          'aria-label': `compare run ${run.name} ${run.id.slice(0, 8)}`,
          onchange: (e: Event) => {
            if ((e.target as HTMLInputElement).checked) selected.add(run.id);
            else selected.delete(run.id);
            updateCompare();
          },
        });
        box.checked = selected.has(run.id);
        return h(
          'tr',
          { 'data-run-id': run.id, class: `status-${statusText(run)}` },
          h('td', {}, box),
          h('td', {}, h('a', { href: `#/runs/${run.id}` }, run.name), h('span', { class: 'muted id' }, ` ${run.id.slice(0, 8)}`)),
          h('td', {}, h('span', { class: `pill ${statusText(run)}`, title: run.error ?? '' }, statusText(run))),
          h('td', {}, run.backend),
          h('td', { class: 'num' }, run.epochs),
          h('td', { class: 'num' }, fmtDuration(run.durationSeconds)),
          h('td', { class: 'num' }, fmt(run.finalMetrics?.loss)),
          h('td', {}, metric ? `${metric[0]} ${fmt(metric[1])}` : '—'),
          h('td', {}, h('span', { class: `pill bn-${run.bnGuard.verdict}`, title: run.bnGuard.detail ?? '' }, run.bnGuard.verdict)),
          h('td', {}, fmtDate(run.startedAt)),
        );
      }),
    );
    count.textContent = `${shown.length} of ${runs.length} runs`;
    performance.mark('runs-table-rendered');
  };

  for (const col of COLUMNS) {
    const button = h('button', { type: 'button', class: 'sort' }, col.label);
    button.addEventListener('click', () => {
      state.desc = state.sort === col.key ? !state.desc : col.key === 'started';
      state.sort = col.key;
      syncHash();
      render();
    });
    headRow.append(h('th', { scope: 'col', 'data-key': col.key }, button));
  }
  nameSelect.addEventListener('change', () => {
    state.name = nameSelect.value;
    syncHash();
    render();
  });
  statusSelect.addEventListener('change', () => {
    state.status = statusSelect.value;
    syncHash();
    render();
  });

  show(
    main,
    h('h1', {}, 'Training runs'),
    h(
      'div',
      { class: 'filters' },
      h('label', { for: 'filter-name' }, 'Model'),
      nameSelect,
      h('label', { for: 'filter-status' }, 'Status'),
      statusSelect,
      compareLink,
    ),
    count,
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'runs', id: 'runs-table' },
        h('caption', { class: 'sr-only' }, 'Training runs; column headers sort'),
        h('thead', {}, headRow),
        tbody,
      ),
    ),
  );
  render();
}
