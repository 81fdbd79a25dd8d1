// `bnserve tune` for real, on the Iris example in a temp registry, with a budget far too small for
// the grid: it prints the table, says what it skipped, and --apply stores exactly the setting the
// table marks best; a target nothing can meet exits 6 and stores nothing. Speeds are not asserted.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { openRegistry } from '../../src/registry/index.ts';
import { registryEnv, runCli } from '../cli/run-cli.ts';

let dir: string;
let env: Record<string, string>;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-tune-'));
  env = { ...registryEnv(dir), BNSERVE_EXECUTION_PROVIDERS: 'cpu' };
  const trained = await runCli(['train', '--config', 'examples/iris-bn.json', '--out', path.join(dir, 'ckpt'), '--json'], env);
  assert.equal(trained.code, 0, trained.stderr);
});

after(() => rm(dir, { recursive: true, force: true }));

async function storedSettings() {
  const registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS, createDatabase: 'never' });
  try {
    return await registry.listModelSettings!();
  } finally {
    await registry.close();
  }
}

/** The setting a table line names, as the override it stores. */
function parseSetting(label: string) {
  const m = /batch (\d+), delay (\d+) µs(?:, preferred ([\d+]+))?, (\d+) instances?/.exec(label);
  assert.ok(m, `not a setting: ${label}`);
  return {
    enabled: true,
    maxBatchSize: Number(m[1]),
    maxQueueDelayMicroseconds: Number(m[2]),
    preferredBatchSizes: m[3] ? m[3].split('+').map(Number) : [],
    instanceCount: Number(m[4]),
  };
}

test('tune --apply: a table of the settings it had time for, the rest listed as skipped, the best stored', async () => {
  const r = await runCli(
    ['tune', 'iris', '--budget-s', '20', '--concurrency', '4,1', '--window-s', '1', '--warmup-s', '1', '--apply'],
    env,
  );
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.match(
    lines[0],
    /^tuned iris version 1: 1 row\(s\) per request \(warm-up sample\), concurrency 1, 4, no p99 target; \d+ s of a 20 s budget$/,
  );

  const headerAt = lines.findIndex((l) => /^\s+#\s+setting\s+c\s+req\/s\s+p50 ms\s+p99 ms\s+rows\/run\s+verdict$/.test(l));
  assert.ok(headerAt > 0, `no table header in:\n${r.stdout}`);
  const rows: string[] = [];
  for (const line of lines.slice(headerAt + 1)) {
    if (line.trim() === '') break;
    rows.push(line);
  }
  // Two lines per setting (concurrency 1, then 4), the setting named on the first.
  assert.ok(rows.length >= 2 && rows.length % 2 === 0, `table rows:\n${rows.join('\n')}`);
  const number = String.raw`\d+(\.\d+)?`;
  for (let i = 0; i < rows.length; i += 2) {
    assert.match(
      rows[i],
      new RegExp(
        `^[* ]\\s+${i / 2 + 1}\\s+(current: )?batch .* instances?\\s+1\\s+${number}\\s+${number}\\s+${number}\\s+(${number}|-)\\s+\\S`,
      ),
    );
    assert.match(rows[i + 1], new RegExp(`^\\s+4\\s+${number}\\s+${number}\\s+${number}\\s+(${number}|-)$`));
  }
  assert.match(rows[0], /current: batch 512, delay 0 µs, 1 instance/, 'the current setting is measured first');
  const starred = rows.filter((l) => l.startsWith('*'));
  assert.equal(starred.length, 1, 'exactly one best setting');

  const skipped = /not measured \(the 20 s budget did not fit them; raise --budget-s to include them\): (\d+) setting\(s\)/.exec(r.stdout);
  assert.ok(skipped, 'the settings left out are said');
  assert.equal(Number(skipped[1]) + rows.length / 2, 45, 'measured + skipped = the whole grid and the current setting');

  const best = parseSetting(starred[0]);
  assert.match(r.stdout, /stored as the batching override of iris in the registry/);
  const stored = await storedSettings();
  assert.deepEqual(
    stored.map((s) => [s.name, s.batching, s.problem]),
    [['iris', best, null]],
  );
  assert.match(r.stderr, /bnserve: tune: .*c=1: \d+ req\/s, p99 \d+ ms/, 'progress on stderr');
});

test('tune --json with a p99 target nothing can meet: exit 6, no best, nothing stored', async () => {
  const before = await storedSettings();
  // 32 clients with every answer under a microsecond: no server on this machine does that.
  const r = await runCli(
    [
      'tune',
      'iris',
      '--budget-s',
      '12',
      '--concurrency',
      '32',
      '--window-s',
      '1',
      '--warmup-s',
      '1',
      '--p99-ms',
      '0.001',
      '--apply',
      '--json',
    ],
    env,
  );
  assert.equal(r.code, 6, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.best, null);
  assert.equal(out.applied, null);
  assert.equal(out.p99TargetMs, 0.001);
  assert.ok(out.results.length >= 1);
  for (const result of out.results) assert.match(result.verdict, /> 0\.001 ms at concurrency 32|failed/);
  assert.ok(out.skipped.length > 0);
  assert.deepEqual(await storedSettings(), before, 'the registry is unchanged');
});

test('refuses bad arguments before opening anything (exit 2)', async () => {
  for (const args of [
    ['--concurrency', '1,x'],
    ['--concurrency', '0'],
    ['--budget-s', '10', '--window-s', '5'],
    ['--p99-ms', '-1'],
  ]) {
    const r = await runCli(['tune', 'iris', ...args], env);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
  }
  const unknown = await runCli(['tune', 'tulip', '--budget-s', '20'], env);
  assert.equal(unknown.code, 4);
  assert.match(unknown.stderr, /no model named tulip/);
});
