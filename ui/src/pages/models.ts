// Models: versions with their facts and aliases; promote (with confirmation), load and unload.
import { api, ApiError, type ModelView, type VersionView } from '../api.ts';
import { errorBox, fmt, fmtDate, h, show } from '../dom.ts';

function notice(area: HTMLElement, text: string, kind: 'ok' | 'error'): void {
  area.replaceChildren(h('p', { class: kind === 'ok' ? 'ok' : 'error' }, text));
}

function explain(error: unknown): string {
  if (error instanceof ApiError && error.status === 401) return `refused: ${error.message}`;
  return (error as Error).message;
}

/** A modal confirmation (native <dialog>: focus is trapped, Escape cancels). */
function confirmPromote(model: string, v: VersionView, onDone: () => void, area: HTMLElement): void {
  const alias = h('input', { id: 'promote-alias', value: 'production', required: true, pattern: '[A-Za-z][A-Za-z0-9._\\-]{0,63}' });
  const force = h('input', { type: 'checkbox', id: 'promote-force' });
  const dialog = h(
    'dialog',
    { 'aria-labelledby': 'promote-title', class: 'confirm' },
    h(
      'form',
      { method: 'dialog' },
      h('h2', { id: 'promote-title' }, `Promote ${model} version ${v.version}?`),
      h(
        'p',
        {},
        `The server loads and warms version ${v.version}, then moves the alias; in-flight requests finish on the previous version.`,
      ),
      h('label', { for: 'promote-alias' }, 'Alias '),
      alias,
      v.bnGuardWarning ? h('p', { class: 'warn' }, `The BN guard flagged this version: ${v.bnGuardWarning}`) : null,
      v.bnGuardWarning ? h('div', {}, force, h('label', { for: 'promote-force' }, ' promote anyway (force)')) : null,
      h(
        'div',
        { class: 'actions' },
        h('button', { value: 'cancel', type: 'submit', formnovalidate: true }, 'Cancel'),
        h('button', { value: 'ok', type: 'submit', id: 'promote-confirm', class: 'primary' }, 'Promote'),
      ),
    ),
  );
  dialog.addEventListener('close', async () => {
    dialog.remove();
    if (dialog.returnValue !== 'ok') return;
    try {
      const result = await api.promote(model, v.version, alias.value, force.checked);
      notice(
        area,
        `${model}: alias "${alias.value}" now points at version ${v.version} (was ${result.previous_version ?? 'unset'}).`,
        'ok',
      );
      onDone();
    } catch (error) {
      notice(area, `Promote failed: ${explain(error)}`, 'error');
    }
  });
  document.body.append(dialog);
  dialog.showModal();
}

/** The graph's metadata_props, fetched when first opened (reading an artifact is not free). */
function metadataDetails(model: string, version: number): HTMLElement {
  const body = h('div', { class: 'metadata' }, 'Loading…');
  const details = h('details', { class: 'onnx-metadata' }, h('summary', {}, 'ONNX metadata'), body);
  let loaded = false;
  details.addEventListener('toggle', async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      const { metadata } = await api.metadata(model, version);
      body.replaceChildren(h('dl', {}, ...Object.entries(metadata).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, h('code', {}, v))])));
    } catch (error) {
      body.replaceChildren(errorBox((error as Error).message));
    }
  });
  return details;
}

function modelSection(m: ModelView, area: HTMLElement, reload: () => void, focus: { model?: string; version?: number }): HTMLElement {
  const action = (label: string, run: () => Promise<unknown>, done: string) =>
    h(
      'button',
      {
        type: 'button',
        'data-action': label.toLowerCase(),
        onclick: async () => {
          try {
            await run();
            notice(area, done, 'ok');
            reload();
          } catch (error) {
            notice(area, `${label} failed: ${explain(error)}`, 'error');
          }
        },
      },
      label,
    );
  const served = m.served;
  return h(
    'section',
    { class: 'model', id: `model-${m.name}`, 'aria-labelledby': `model-h-${m.name}` },
    h('h2', { id: `model-h-${m.name}` }, m.name),
    h(
      'p',
      {},
      `Aliases: ${
        Object.entries(m.aliases)
          .map(([a, v]) => `${a} → v${v}`)
          .join(', ') || 'none'
      }. `,
      served
        ? `Serving by default: ${served.defaultVersion ? `v${served.defaultVersion}` : 'nothing'}; loaded: ${served.loadedVersions.map((v) => `v${v}`).join(', ') || 'none'}${served.unloaded ? ' (unloaded by an admin)' : ''}. `
        : 'Not yet read by the server. ',
      action('Load', () => api.load(m.name), `${m.name} loaded.`),
      ' ',
      action('Unload', () => api.unload(m.name), `${m.name} unloaded.`),
    ),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'versions', 'data-model': m.name },
        h('caption', { class: 'sr-only' }, `Versions of ${m.name}`),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...[
              'version',
              'aliases',
              'sha256',
              'size',
              'parity max |Δ|',
              'folded',
              'BN guard',
              'task',
              'features → classes',
              'opset',
              'created',
              'run',
              'action',
            ].map((c) => h('th', { scope: 'col' }, c)),
          ),
        ),
        h(
          'tbody',
          {},
          ...m.versions
            .slice()
            .reverse()
            .flatMap((v) => [
              h(
                'tr',
                { 'data-version': v.version, class: focus.model === m.name && focus.version === v.version ? 'focus' : '' },
                h('th', { scope: 'row' }, `v${v.version}`),
                h('td', { class: 'aliases' }, v.aliases.join(', ') || '—'),
                h('td', {}, h('code', { title: v.sha256 }, `${v.sha256.slice(0, 12)}…`)),
                h('td', { class: 'num' }, `${(v.size / 1024).toFixed(1)} KiB`),
                h('td', { class: 'num' }, fmt(v.parityMaxAbsDiff)),
                h('td', {}, v.folded ? 'yes' : 'no'),
                h(
                  'td',
                  {},
                  v.bnGuardWarning
                    ? h('span', { class: 'pill bn-flagged', title: v.bnGuardWarning }, 'flagged')
                    : h(
                        'span',
                        { class: 'pill bn-ok', title: 'the BN guard did not flag this version (or it has no BN layer)' },
                        'not flagged',
                      ),
                ),
                h('td', {}, v.task),
                h('td', {}, `${v.featureNames.join(', ')} → ${v.task === 'classification' ? v.classLabels.join(', ') : 'value'}`),
                h('td', { class: 'num' }, v.opset),
                h('td', {}, fmtDate(v.createdAt)),
                h('td', {}, v.runId ? h('a', { href: `#/runs/${v.runId}` }, v.runId.slice(0, 8)) : '—'),
                h(
                  'td',
                  {},
                  h(
                    'button',
                    {
                      type: 'button',
                      class: 'promote',
                      'aria-label': `Promote ${m.name} version ${v.version}`,
                      onclick: () => confirmPromote(m.name, v, reload, area),
                    },
                    'Promote…',
                  ),
                ),
              ),
              h('tr', { 'data-meta-version': v.version, class: 'meta-row' }, h('td', { colspan: 13 }, metadataDetails(m.name, v.version))),
            ]),
        ),
      ),
    ),
  );
}

export async function modelsPage(main: HTMLElement, params: URLSearchParams): Promise<void> {
  const focus = { model: params.get('model') ?? undefined, version: params.get('version') ? Number(params.get('version')) : undefined };
  const area = h('div', { id: 'action-result', role: 'status', 'aria-live': 'polite' });
  const list = h('div', { id: 'models-list' });
  const reload = async () => {
    try {
      const { models } = await api.models();
      list.replaceChildren(
        ...(models.length ? models.map((m) => modelSection(m, area, reload, focus)) : [h('p', {}, 'No model registered yet.')]),
      );
    } catch (error) {
      list.replaceChildren(errorBox(`Could not load the models: ${(error as Error).message}`));
    }
  };
  show(main, h('h1', {}, 'Models'), h('p', { class: 'muted' }, 'Actions need the admin token (top right).'), area, list);
  await reload();
  if (focus.model) document.getElementById(`model-${focus.model}`)?.scrollIntoView();
}
