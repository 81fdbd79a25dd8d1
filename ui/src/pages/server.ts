// Server: what is loaded on which execution provider, the memory budget, cache and payload log, queues,
// and the request/batch histograms, refreshed live.
import { api, type ServerView } from '../api.ts';
import { barChart } from '../charts.ts';
import { errorBox, fmt, h, show } from '../dom.ts';

export const REFRESH_MS = 2000;

const TITLES: Record<string, string> = {
  bnserve_request_duration_seconds: 'Request duration (ms)',
  bnserve_batch_size: 'Rows per onnxruntime run (batch size)',
  bnserve_batch_rows: 'Rows in the run that served each request',
  bnserve_queue_duration_seconds: 'Queue wait (ms)',
};

/** Bucket bounds of the *_seconds histograms shown in milliseconds. */
function bucketLabel(name: string, le: string): string {
  return name.endsWith('_seconds') && le !== '+Inf' ? fmt(Number(le) * 1000) : le;
}

function render(view: ServerView): HTMLElement[] {
  const loaded = view.models.flatMap((m) =>
    m.loaded.map((v) => ({
      model: m.name,
      ...v,
      isDefault: m.defaultVersion === v.version,
      aliases: Object.entries(m.aliases)
        .filter(([, n]) => n === v.version)
        .map(([a]) => a),
    })),
  );
  const providers = [...new Set(loaded.map((v) => v.executionProvider))];
  const evicted = view.models.flatMap((m) => m.evicted.map((v) => `${m.name} v${v}`));
  const { budget, responseCache, payloadLog } = view;
  const limits = [budget.maxVersions ? `${budget.maxVersions} versions` : '', budget.memoryMb ? `${fmt(budget.memoryMb)} MiB` : '']
    .filter(Boolean)
    .join(', ');
  const drops = Object.entries(payloadLog.dropped);
  return [
    h(
      'dl',
      { class: 'facts', id: 'server-facts' },
      h('dt', {}, 'Ready'),
      h('dd', {}, view.ready ? 'yes' : 'no'),
      h('dt', {}, 'Registry'),
      h('dd', {}, view.registryAvailable ? 'available' : 'unavailable'),
      h('dt', {}, 'Execution provider in use'),
      h('dd', { id: 'provider-in-use' }, providers.join(', ') || 'none loaded'),
      h('dt', {}, 'Configured providers'),
      h('dd', {}, view.configuredProviders.join(' → ')),
      h('dt', {}, 'Queue depth'),
      h('dd', { id: 'queue-depth' }, view.queueDepth),
      h('dt', {}, 'Requests by status'),
      h(
        'dd',
        {},
        Object.entries(view.requestsByStatus)
          .map(([s, n]) => `${s}: ${n}`)
          .join(', ') || 'none',
      ),
      h('dt', {}, 'Loaded versions'),
      h(
        'dd',
        { id: 'budget-loaded' },
        `${budget.loadedVersions}${limits ? ` (budget: ${limits})` : ' (no budget)'}, ~${fmt(budget.memoryBytes / (1024 * 1024))} MiB` +
          (budget.over ? ' — over budget until busy versions drain' : ''),
      ),
      h('dt', {}, 'Unloaded by the budget'),
      h('dd', { id: 'budget-evicted' }, evicted.length ? `${evicted.length}: ${evicted.join(', ')}` : 'none'),
      h('dt', {}, 'Loads, evictions, cold starts'),
      h(
        'dd',
        { id: 'budget-counts' },
        `${budget.loads} loads, ${budget.evictions} evictions, ${budget.coldStarts} cold starts` +
          (budget.coldStartMeanSeconds === null ? '' : ` (mean ${fmt(budget.coldStartMeanSeconds * 1000)} ms)`),
      ),
      h('dt', {}, 'Response cache'),
      h(
        'dd',
        { id: 'cache-hit-ratio' },
        !responseCache.enabled
          ? 'off'
          : responseCache.hitRatio === null
            ? 'no lookups yet'
            : `${fmt(responseCache.hitRatio * 100)}% hits (${responseCache.hits} of ${responseCache.hits + responseCache.misses})`,
      ),
      h('dt', {}, 'Payload log'),
      h(
        'dd',
        { id: 'payload-log-drops' },
        !payloadLog.enabled
          ? 'off'
          : `${payloadLog.written} written, ${drops.reduce((n, [, c]) => n + c, 0)} dropped` +
              (drops.length ? ` (${drops.map(([r, c]) => `${r}: ${c}`).join(', ')})` : ''),
      ),
      h('dt', {}, 'Uptime'),
      h('dd', {}, `${Math.round(view.uptimeSeconds)} s`),
    ),
    h(
      'table',
      { id: 'loaded-table' },
      h('caption', {}, 'Loaded versions'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ...['model', 'version', 'serves', 'execution provider', 'in flight', 'queued', 'running batches', 'memory (MiB)'].map((c) =>
            h('th', { scope: 'col' }, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        ...loaded.map((v) =>
          h(
            'tr',
            {},
            h('th', { scope: 'row' }, v.model),
            h('td', { class: 'num' }, v.version),
            h('td', {}, [v.isDefault ? 'default' : '', ...v.aliases].filter(Boolean).join(', ') || 'on demand'),
            h('td', {}, v.executionProvider),
            h('td', { class: 'num' }, v.inflight),
            h('td', { class: 'num' }, v.queued),
            h('td', { class: 'num' }, v.runningBatches),
            h('td', { class: 'num' }, fmt(v.memoryBytes / (1024 * 1024))),
          ),
        ),
      ),
    ),
    ...view.models
      .filter((m) => m.failures.length)
      .map((m) =>
        errorBox(`${m.name}: ${m.failures.map((f) => `v${f.version} ${f.reason}${f.retrying ? ' (retrying)' : ''}`).join('; ')}`),
      ),
    h(
      'div',
      { class: 'charts' },
      ...view.histograms.map((hist) =>
        barChart(
          `${TITLES[hist.name] ?? hist.name} — ${hist.count} observed${hist.count ? `, mean ${fmt((hist.sum / hist.count) * (hist.name.endsWith('_seconds') ? 1000 : 1))}` : ''}`,
          hist.buckets.map((b) => ({ label: bucketLabel(hist.name, b.le), count: b.count })),
        ),
      ),
    ),
  ];
}

/** Renders, then refreshes every REFRESH_MS until the page changes (the returned stop function). */
export async function serverPage(main: HTMLElement): Promise<() => void> {
  const body = h('div', { id: 'server-body' });
  const stamp = h('p', { class: 'muted', id: 'server-updated' }, 'Loading…');
  show(main, h('h1', {}, 'Server'), stamp, body);
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const tick = async () => {
    try {
      const view = await api.server();
      if (stopped) return;
      // Keep open data tables open across refreshes.
      const open = new Set(
        [...body.querySelectorAll('details[open]')].map(
          (d) => d.closest('figure')?.querySelector('figcaption')?.textContent?.split(' — ')[0],
        ),
      );
      body.replaceChildren(...render(view));
      for (const d of body.querySelectorAll('details')) {
        if (open.has(d.closest('figure')?.querySelector('figcaption')?.textContent?.split(' — ')[0])) d.open = true;
      }
      stamp.textContent = `Updated ${new Date(view.time).toLocaleTimeString()} (every ${REFRESH_MS / 1000} s)`;
      stamp.dataset.refreshes = String(Number(stamp.dataset.refreshes ?? 0) + 1);
    } catch (error) {
      if (!stopped) body.replaceChildren(errorBox(`Could not read the server status: ${(error as Error).message}`));
    }
    if (!stopped) timer = setTimeout(tick, REFRESH_MS);
  };
  await tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
