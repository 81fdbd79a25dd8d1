// The dashboard in Debian's Chromium (playwright-core) against a real server and a real SQLite
// registry holding trained runs (one of them diverged). Screenshots go to test-output/ui/.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { tempDir } from '../train/helpers.ts';
import { ensureUiBuilt, ROOT, shippedGzipBytes } from './build-ui.ts';
import { fillRuns, trainedRegistry, type TrainedRegistry } from './registry-fixture.ts';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'dashboard-test-token';
const SHOTS = path.join(ROOT, 'test-output', 'ui');
const RUNS_IN_TABLE = 200;
const BUNDLE_LIMIT_BYTES = 300 * 1024;

type Json = Record<string, any>;

async function api(server: RunningServer, url: string): Promise<Json> {
  return (await (await fetch(`${server.url}${url}`)).json()) as Json;
}

async function shot(page: Page, name: string, fullPage = true): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });
}

/**
 * Milliseconds from navigation start to the first contentful paint, and to the page's own mark once
 * the table holds every row (the next frame paints it).
 */
function paintTimes(page: Page): Promise<{ fcp: number | null; table: number | null }> {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        requestAnimationFrame(() =>
          setTimeout(() => {
            const fcp = performance.getEntriesByName('first-contentful-paint')[0]?.startTime;
            const table = performance.getEntriesByName('runs-table-rendered')[0]?.startTime;
            resolve({ fcp: fcp === undefined ? null : Math.round(fcp), table: table === undefined ? null : Math.round(table) });
          }),
        );
      }),
  );
}

/** Pixels of a canvas that are not blank: uPlot drew something. */
function paintedPixels(page: Page, selector: string): Promise<number> {
  return page.$eval(selector, (canvas) => {
    const c = canvas as HTMLCanvasElement;
    const data = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) n++;
    return n;
  });
}

// The root tsconfig has no DOM types, so `tsc -p .` does not look at ui/: check it here.
test('the dashboard sources type-check (tsc -p ui)', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const result = spawnSync(process.execPath, [tsc, '--noEmit', '-p', 'ui'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(result.status, 0, result.stdout + result.stderr);
});

test('dashboard pages in Chromium against a real server and registry', { timeout: 600_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed: the dashboard's browser tests need Debian's chromium package`);
    return;
  }
  const { built } = ensureUiBuilt();
  const bundle = shippedGzipBytes();
  t.diagnostic(
    `dist/ui ${built ? 'built now' : 'up to date'}; JS+CSS+HTML gzip: ${(bundle.total / 1024).toFixed(1)} KB ${JSON.stringify(bundle.files)}`,
  );
  assert.ok(bundle.total < BUNDLE_LIMIT_BYTES, `the page ships ${bundle.total} bytes gzipped (limit ${BUNDLE_LIMIT_BYTES})`);

  const dir = await tempDir(t, 'bnserve-ui-');
  const trained: TrainedRegistry = await trainedRegistry(dir);
  const { registry, runs } = trained;
  t.after(() => registry.close());
  await fillRuns(registry, RUNS_IN_TABLE);
  const server = await startServer({ registry, host: '127.0.0.1', port: 0, providers: ['cpu'], adminToken: TOKEN, logger: false, env: {} });
  t.after(() => server.close());
  const origin = new URL(server.url).origin;

  await mkdir(SHOTS, { recursive: true });
  const browser: Browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  t.after(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const foreign: string[] = [];
  const consoleErrors: string[] = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.origin !== origin && url.protocol !== 'data:') foreign.push(request.url());
  });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));

  await t.test('Runs: every run in the table, filterable and sortable; first paint measured', async () => {
    await page.goto(`${server.url}/ui/#/runs`);
    await page.waitForSelector('#runs-table tbody tr');
    assert.equal(await page.locator('#runs-table tbody tr').count(), RUNS_IN_TABLE);
    const cold = await paintTimes(page);
    // Then five more loads, each in a fresh tab (no HTTP cache shared with the first one's), server and registry warm.
    const warm: { fcp: number | null; table: number | null }[] = [];
    for (let i = 0; i < 5; i++) {
      const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await tab.goto(`${server.url}/ui/#/runs`);
      await tab.waitForSelector('#runs-table tbody tr');
      warm.push(await paintTimes(tab));
      await tab.close();
    }
    const median = (values: (number | null)[]) => values.map(Number).sort((a, b) => a - b)[Math.floor(values.length / 2)];
    t.diagnostic(
      `Runs page with ${RUNS_IN_TABLE} runs: first load (cold server): first contentful paint ${cold.fcp} ms, table of ${RUNS_IN_TABLE} rows rendered at ${cold.table} ms; ` +
        `5 warm loads: median ${median(warm.map((w) => w.fcp))} ms / ${median(warm.map((w) => w.table))} ms (table: ${warm.map((w) => w.table).join(', ')} ms)`,
    );
    assert.ok(cold.table !== null && warm.every((w) => w.table !== null));
    await shot(page, 'runs', false);

    const divergedRow = page.locator(`tr[data-run-id="${runs.diverged}"]`);
    assert.equal(await divergedRow.locator('.pill').first().textContent(), 'diverged');
    await page.selectOption('#filter-status', 'diverged');
    assert.equal(await page.locator('#runs-table tbody tr').count(), 1);
    await page.selectOption('#filter-status', '');
    await page.selectOption('#filter-name', 'iris');
    assert.equal(await page.locator('#runs-table tbody tr').count(), 1);
    const iris = page.locator(`tr[data-run-id="${runs.iris}"]`);
    assert.equal(await iris.locator('td').nth(3).textContent(), (await api(server, `/api/runs/${runs.iris}`)).backend);
    assert.equal(await iris.locator('td').nth(4).textContent(), '120');
    assert.equal(await iris.locator('.pill.bn-ok').count(), 1, 'BN guard verdict ok');
    await page.selectOption('#filter-name', 'iris-stale');
    assert.equal(await page.locator(`tr[data-run-id="${runs.stale}"] .pill.bn-flagged`).count(), 1, 'BN guard verdict flagged');
    await page.selectOption('#filter-name', '');

    // Sorting by keyboard: the header buttons take focus and Enter.
    await page.focus('th[data-key="epochs"] button');
    await page.keyboard.press('Enter');
    assert.equal(await page.getAttribute('th[data-key="epochs"]', 'aria-sort'), 'ascending');
    await page.keyboard.press('Enter');
    assert.equal(await page.getAttribute('th[data-key="epochs"]', 'aria-sort'), 'descending');
    assert.equal(await page.locator('#runs-table tbody tr').first().getAttribute('data-run-id'), runs.iris, '120 epochs is the most');
    await shot(page, 'runs-by-epochs', false);
  });

  await t.test('keyboard: skip link, then Tab reaches a run and Enter opens it with focus on its heading', async (t) => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    t.after(() => page.close());
    await page.goto(`${server.url}/ui/#/runs?name=iris`);
    await page.waitForSelector('#runs-table tbody tr');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = await page.evaluate(
        () => (document.activeElement as HTMLAnchorElement | null)?.getAttribute('href')?.startsWith('#/runs/') ?? false,
      );
    }
    assert.ok(reached, 'a run link is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.waitForSelector('figure.chart .uplot');
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1');
  });

  await t.test('Run: loss curves and accuracy per epoch, BN guard per layer, version link, config', async () => {
    await page.goto(`${server.url}/ui/#/runs/${runs.iris}`);
    await page.waitForSelector('figure.chart canvas');
    const loss = page.locator('figure.chart').first();
    assert.equal(await loss.getAttribute('data-points'), '120');
    assert.equal(await loss.getAttribute('data-series'), '4', 'loss, data loss, regularisation loss, validation loss');
    assert.ok((await paintedPixels(page, 'figure.chart >> nth=0 >> canvas')) > 500, 'the loss chart is drawn');
    assert.match((await loss.locator('.plot').getAttribute('aria-label')) ?? '', /Loss per epoch: 120 epochs/);
    assert.equal(await loss.locator('details tbody tr').count(), 120, 'the data table has a row per epoch');
    assert.match((await page.locator('figure.chart').nth(1).locator('figcaption').textContent()) ?? '', /Accuracy/);
    assert.equal(await page.locator('#bn-layers tbody tr').count(), 2);
    assert.equal(await page.locator('#bn-layers tbody tr').first().locator('td').nth(2).textContent(), '0.02156 %', '0.99^840');
    assert.match((await page.locator('#bn-layers tbody tr').first().textContent()) ?? '', /batch_normalization/);
    assert.equal(await page.locator('a.version-link').textContent(), 'iris v1');
    assert.match((await page.locator('pre.config').textContent()) ?? '', /"batchNormalization"/);
    await shot(page, 'run');
  });

  await t.test('Run: a diverged run shows its curve on a log axis and its error', async () => {
    await page.goto(`${server.url}/ui/#/runs/${runs.diverged}`);
    await page.waitForSelector('figure.chart canvas');
    const loss = page.locator('figure.chart').first();
    assert.equal(await loss.getAttribute('data-points'), '10');
    assert.equal(await loss.getAttribute('data-scale'), 'log');
    assert.ok((await paintedPixels(page, 'figure.chart >> nth=0 >> canvas')) > 500);
    assert.match((await page.locator('h1 .pill').textContent()) ?? '', /diverged/);
    assert.match((await page.locator('p.error').first().textContent()) ?? '', /training diverged/);
    await shot(page, 'run-diverged');
  });

  await t.test('Run: a run the BN guard flagged shows why, per layer', async () => {
    await page.goto(`${server.url}/ui/#/runs/${runs.stale}`);
    await page.waitForSelector('#bn-layers tbody tr');
    assert.equal(await page.textContent('#bn-h + p .pill'), 'flagged');
    assert.match((await page.textContent('#bn-h + p')) ?? '', /1 update step\. The BatchNormalization moving statistics may be stale/);
    const first = page.locator('#bn-layers tbody tr').first();
    assert.equal(await first.locator('td').nth(2).textContent(), '99 % (over the limit)', '0.99^1, over 5 %');
    assert.equal(await first.locator('td.over').count(), 2, 'momentum^steps and the variance ratio');
    await shot(page, 'run-flagged');
  });

  await t.test('Run: decision regions of a 2-feature classifier, evaluated by the served model', async () => {
    await page.goto(`${server.url}/ui/#/runs/${runs.adalineStd}`);
    await page.waitForSelector('figure.regions');
    const regions = page.locator('figure.regions');
    assert.equal(await regions.getAttribute('data-points'), String(50 * 50));
    assert.equal(await regions.locator('circle.point').count(), 100, 'Iris rows 0–99');
    assert.match((await regions.locator('.legend').textContent()) ?? '', /setosa.*versicolor/);
    await shot(page, 'run-regions');
  });

  await t.test('Compare: runs overlaid in one chart', async () => {
    // Tick two runs on the Runs page with the keyboard (Space), then follow "Compare selected" (Enter).
    await page.goto(`${server.url}/ui/#/runs`);
    await page.waitForSelector('#runs-table tbody tr');
    for (const id of [runs.diverged, runs.adalineSlow]) {
      await page.focus(`tr[data-run-id="${id}"] input[type="checkbox"]`);
      await page.keyboard.press('Space');
    }
    assert.equal(await page.textContent('#compare-selected'), 'Compare selected (2)');
    await page.focus('#compare-selected');
    await page.keyboard.press('Enter');
    await page.waitForSelector('figure.chart canvas');
    assert.match(page.url(), new RegExp(`#/compare\\?ids=${runs.diverged},${runs.adalineSlow}$`));
    const chart = page.locator('figure.chart').first();
    assert.equal(await chart.getAttribute('data-series'), '2');
    assert.equal(await chart.getAttribute('data-points'), '10');
    assert.equal(await chart.getAttribute('data-scale'), 'log');
    assert.equal(await page.locator('#compare-table tbody tr').count(), 2);
    await shot(page, 'compare');
  });

  await t.test('Models: a wrong token is refused; promote with the right one moves the alias', async () => {
    const model = 'adaline-std-lr0.01';
    await page.goto(`${server.url}/ui/#/models`);
    await page.waitForSelector(`table.versions[data-model="${model}"] tbody tr`);
    assert.equal(await page.locator(`table.versions[data-model="${model}"] tbody tr[data-version]`).count(), 2);
    assert.match((await page.locator(`table.versions[data-model="${model}"] code`).first().getAttribute('title')) ?? '', /^[0-9a-f]{64}$/);

    // The graph's metadata, fetched when its details open (keyboard: focus the summary, Enter).
    const details = page.locator(`table.versions[data-model="${model}"] tr[data-meta-version="2"] details.onnx-metadata`);
    await details.locator('summary').focus();
    await page.keyboard.press('Enter');
    await details.locator('dl').waitFor();
    assert.match((await details.textContent()) ?? '', /producer\s*bnserve/);
    assert.match((await details.textContent()) ?? '', /parity_max_abs_diff/);

    await page.fill('#token-input', 'wrong-token');
    await page.click('#token-save');
    await page.waitForFunction(() => /refused/.test(document.getElementById('token-status')?.textContent ?? ''));

    // A stale or mistyped token that is used anyway: the server refuses the promote.
    await page.evaluate(() => sessionStorage.setItem('bnserve-admin-token', 'wrong-token'));
    await page.click(`table.versions[data-model="${model}"] tr[data-version="1"] button.promote`);
    await page.click('#promote-confirm');
    await page.waitForSelector('#action-result .error');
    assert.match((await page.locator('#action-result').textContent()) ?? '', /refused/);
    assert.deepEqual((await api(server, `/api/models/${model}`)).aliases, {}, 'nothing moved');

    await page.fill('#token-input', TOKEN);
    await page.click('#token-save');
    await page.waitForFunction(() => document.getElementById('token-status')?.textContent === 'admin token set');
    // Cancelling the confirmation changes nothing.
    await page.click(`table.versions[data-model="${model}"] tr[data-version="1"] button.promote`);
    await page.keyboard.press('Escape');
    assert.deepEqual((await api(server, `/api/models/${model}`)).aliases, {});

    await page.click(`table.versions[data-model="${model}"] tr[data-version="1"] button.promote`);
    await shot(page, 'models-promote-dialog', false);
    await page.click('#promote-confirm');
    await page.waitForSelector('#action-result .ok');
    assert.deepEqual((await api(server, `/api/models/${model}`)).aliases, { production: 1 });
    await page.waitForFunction(
      (m) => document.querySelector(`table.versions[data-model="${m}"] tr[data-version="1"] .aliases`)?.textContent === 'production',
      model,
    );
    await shot(page, 'models');

    // A version the BN guard flagged: refused (409) unless forced in the dialog.
    const stale = 'table.versions[data-model="iris-stale"] tr[data-version="1"]';
    await page.click(`${stale} button.promote`);
    assert.match((await page.textContent('dialog .warn')) ?? '', /flagged/);
    await page.click('#promote-confirm');
    await page.waitForFunction(() => /flagged by the BN guard/.test(document.getElementById('action-result')?.textContent ?? ''));
    assert.deepEqual((await api(server, '/api/models/iris-stale')).aliases, {});
    await page.click(`${stale} button.promote`);
    await page.check('#promote-force');
    await page.click('#promote-confirm');
    await page.waitForSelector('#action-result .ok');
    assert.deepEqual((await api(server, '/api/models/iris-stale')).aliases, { production: 1 });

    // Unload and load again, from the page.
    await page.click('#model-iris button[data-action="unload"]');
    await page.waitForFunction(() => document.getElementById('action-result')?.textContent === 'iris unloaded.');
    const unloaded = (await api(server, '/api/server')).models.find((m: Json) => m.name === 'iris');
    assert.equal(unloaded.unloaded, true);
    assert.deepEqual(unloaded.loaded, []);
    await page.click('#model-iris button[data-action="load"]');
    await page.waitForFunction(() => document.getElementById('action-result')?.textContent === 'iris loaded.');
    const loaded = (await api(server, '/api/server')).models.find((m: Json) => m.name === 'iris');
    assert.equal(loaded.unloaded, false);
    assert.equal(loaded.loaded.length, 1);
  });

  await t.test('Server: loaded versions, provider in use, histograms, refreshed live', async () => {
    for (let i = 0; i < 5; i++) {
      await fetch(`${server.url}/v1/models/iris:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: Array.from({ length: i + 1 }, () => [5.1, 3.5, 1.4, 0.2]) }),
      });
    }
    await page.goto(`${server.url}/ui/#/server`);
    await page.waitForSelector('#loaded-table tbody tr');
    assert.equal(await page.locator('#provider-in-use').textContent(), 'CPUExecutionProvider');
    assert.ok((await page.locator('#loaded-table tbody tr').count()) >= 2);
    assert.match((await page.locator('#budget-loaded').textContent()) ?? '', /^\d+ \(no budget\), ~/);
    assert.equal(await page.locator('#budget-evicted').textContent(), 'none');
    assert.equal(await page.locator('#cache-hit-ratio').textContent(), 'off');
    assert.equal(await page.locator('#payload-log-drops').textContent(), 'off');
    assert.equal(await page.locator('figure.histogram').count(), 4);
    const batches = page.locator('figure.histogram').filter({ hasText: 'batch size' });
    assert.ok(Number(await batches.getAttribute('data-total')) >= 5);
    await page.waitForFunction(() => Number(document.getElementById('server-updated')?.dataset.refreshes) >= 2, null, { timeout: 20_000 });
    await shot(page, 'server');
  });

  await t.test('the page made no request outside the server and logged no error', () => {
    assert.deepEqual(foreign, []);
    // The refused token (401) and the refused promote of a flagged version (409) are logged by
    // Chromium as failed resource loads: those are expected.
    assert.deepEqual(
      consoleErrors.filter((e) => !/status of (401|409)\b/.test(e)),
      [],
    );
  });
});
