// `bnserve predict`: a file of rows scored by a registered version, answers equal to the server's
// :predict for the same rows (the server runs in this process on the same registry); bad rows,
// taken outputs and bad references refused with nothing written; CSV and JSONL both ways.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createPredictProgress } from '../../src/predict/progress.ts';
import { csvField } from '../../src/predict/output.ts';
import { parseModelRef } from '../../src/predict/model-ref.ts';
import { rowDetail } from '../../src/predict/scorer.ts';
import { openRegistry, type Registry } from '../../src/registry/index.ts';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { randomMlp, versionInput } from '../serve/fixtures.ts';
import { type CliResult, ROOT, registryEnv, runCli } from './run-cli.ts';

const FEATURES = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];
const LABELS = ['setosa', 'versicolor', 'virginica'];

let dir: string;
let env: Record<string, string>;
let registry: Registry;
let server: RunningServer;
/** examples/data/iris.csv: 150 rows of [sepal_length, sepal_width, petal_length, petal_width] and the species. */
let iris: { values: number[]; species: string }[];

type Json = Record<string, unknown>;

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-predict-'));
  env = { ...registryEnv(dir), BNSERVE_EXECUTION_PROVIDERS: 'cpu' };
  const trained = await runCli(['train', '--config', 'examples/iris-bn.json', '--out', path.join(dir, 'ckpt'), '--json'], env);
  assert.equal(trained.code, 0, trained.stderr);
  registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
  await registry.promote('iris', 1, 'candidate');
  // Regression models need no training: one output (prediction) and two (prediction_0, prediction_1).
  await registry.registerVersion(versionInput('wine', randomMlp(7, 4, 6, 1), 'regression'));
  await registry.registerVersion(versionInput('pair', randomMlp(8, 4, 6, 2), 'regression'));
  server = await startServer({
    registry,
    env: {},
    host: '127.0.0.1',
    port: 0,
    grpcPort: null,
    providers: ['cpu'],
    logger: false,
    refreshIntervalMs: 0,
  });
  const text = await readFile(path.join(ROOT, 'examples/data/iris.csv'), 'utf8');
  iris = text
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => {
      const cells = line.split(',');
      return { values: cells.slice(0, 4).map(Number), species: cells[4] };
    });
});

after(async () => {
  await server?.close();
  await registry?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The server's :predict answer for these instances (arrays in feature order, or objects keyed by feature name). */
async function serverPredictions(model: string, instances: unknown[]): Promise<Json[]> {
  const r = await fetch(`${server.url}/v1/models/${model}:predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instances }),
  });
  const body = (await r.json()) as { predictions: Json[]; error?: string };
  assert.equal(r.status, 200, body.error);
  return body.predictions;
}

const readJsonl = async (file: string): Promise<Json[]> =>
  (await readFile(file, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Json);

/** Iris rows as CSV with the columns shuffled, an id column and the (ignored) species in between. */
function irisCsv(rows = iris): string {
  const header = ['petal_width', 'id', 'sepal_length', 'species', 'petal_length', 'sepal_width'];
  const lines = rows.map(({ values: [sl, sw, pl, pw], species }, i) => [pw, `r${i + 1}`, sl, species, pl, sw].join(','));
  return `${[header.join(','), ...lines].join('\n')}\n`;
}

async function workDir(name: string): Promise<string> {
  return mkdtemp(path.join(dir, `${name}-`));
}

/** Exit 2 (or `code`) with one line naming what to change: no stack trace, no "unexpected error". */
function assertRefused(result: CliResult, message: RegExp, code = 2): void {
  assert.equal(result.code, code, result.stderr);
  assert.match(result.stderr, /^bnserve: error: /);
  assert.match(result.stderr, message);
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, `one line: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /unexpected error|\n\s+at /);
}

describe('bnserve predict', () => {
  test('CSV in (columns in any order, an id column, an ignored column): the server’s answers, in order, as JSONL and CSV', async () => {
    const work = await workDir('csv');
    const input = path.join(work, 'iris.csv');
    await writeFile(input, irisCsv());
    const expected = await serverPredictions(
      'iris',
      iris.map(({ values }) => Object.fromEntries(FEATURES.map((f, j) => [f, values[j]]))),
    );

    const jsonl = await runCli(['predict', 'iris', '--input', input, '--output', path.join(work, 'out.jsonl'), '--json'], env);
    assert.equal(jsonl.code, 0, jsonl.stderr);
    const summary = JSON.parse(jsonl.stdout);
    assert.equal(summary.rows, 150);
    assert.equal(summary.version, 1);
    assert.equal(summary.inputFormat, 'csv');
    assert.equal(summary.format, 'jsonl');
    assert.equal(summary.idColumn, 'id');
    assert.deepEqual(summary.ignoredColumns, ['species']);
    assert.equal(summary.output, path.join(work, 'out.jsonl'));
    assert.ok(summary.rowsPerSecond > 0 && summary.seconds > 0);
    const lines = await readJsonl(path.join(work, 'out.jsonl'));
    assert.deepEqual(
      lines.map((l) => l.id),
      iris.map((_, i) => `r${i + 1}`),
    );
    assert.deepEqual(
      lines.map(({ id, ...prediction }) => prediction),
      expected,
    );
    // The trained model gets Iris right (a sanity check that the columns were not mixed up).
    const right = lines.filter((l, i) => l.label === iris[i].species).length;
    assert.ok(right >= 140, `${right}/150 correct`);

    const csv = await runCli(['predict', 'iris', '--input', input, '--output', path.join(work, 'out.csv')], env);
    assert.equal(csv.code, 0, csv.stderr);
    assert.match(csv.stdout, /^wrote 150 prediction\(s\) of iris version 1 to .*out\.csv \(csv\)/);
    assert.match(csv.stdout, /ignored column\(s\): "species"/);
    const [header, ...rows] = (await readFile(path.join(work, 'out.csv'), 'utf8')).trimEnd().split('\n');
    assert.equal(header, 'id,label,p_setosa,p_versicolor,p_virginica');
    assert.deepEqual(
      rows.map((row) => {
        const [, label, ...p] = row.split(',');
        return { label, probabilities: Object.fromEntries(LABELS.map((l, k) => [l, Number(p[k])])) };
      }),
      expected,
    );
    assert.deepEqual((await readdir(work)).sort(), ['iris.csv', 'out.csv', 'out.jsonl'], 'no temp file left');
  });

  test('small batches give the same answers', async () => {
    const work = await workDir('batches');
    const input = path.join(work, 'iris.csv');
    await writeFile(input, irisCsv());
    const whole = await runCli(['predict', 'iris', '--input', input, '--output', path.join(work, 'whole.jsonl')], env);
    assert.equal(whole.code, 0, whole.stderr);
    const small = await runCli(['predict', 'iris', '--input', input, '--output', path.join(work, 'small.jsonl'), '--batch-size', '7'], env);
    assert.equal(small.code, 0, small.stderr);
    const a = await readJsonl(path.join(work, 'whole.jsonl'));
    const b = await readJsonl(path.join(work, 'small.jsonl'));
    assert.equal(b.length, 150);
    for (let i = 0; i < a.length; i++) {
      assert.equal(b[i].id, a[i].id);
      assert.equal(b[i].label, a[i].label);
      for (const l of LABELS) {
        const [p, q] = [(a[i].probabilities as Json)[l] as number, (b[i].probabilities as Json)[l] as number];
        assert.ok(Math.abs(p - q) <= 1e-6, `row ${i + 1} ${l}: ${p} vs ${q}`);
      }
    }
  });

  test('JSONL in (objects keyed by feature name with ids, arrays in feature order): the server’s answers; format sniffed', async () => {
    const work = await workDir('jsonl');
    const instances: unknown[] = iris
      .slice(0, 20)
      .map(({ values }, i) =>
        i % 5 === 4 ? values : Object.fromEntries([...FEATURES.map((f, j) => [f, values[j]]).reverse(), ['id', i < 10 ? i : `x${i}`]]),
      );
    const input = path.join(work, 'rows.txt'); // no telling extension: JSONL from its first character
    await writeFile(input, `${instances.map((row) => JSON.stringify(row)).join('\n')}\n\n`);
    const result = await runCli(['predict', 'iris', '--input', input, '--output', path.join(work, 'out'), '--json'], env);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(JSON.parse(result.stdout).inputFormat, 'jsonl');
    assert.equal(JSON.parse(result.stdout).format, 'jsonl');
    const expected = await serverPredictions(
      'iris',
      instances.map((row) => {
        if (Array.isArray(row)) return row;
        const { id, ...features } = row as Json;
        return features;
      }),
    );
    const lines = await readJsonl(path.join(work, 'out'));
    assert.deepEqual(
      lines.map((line) => line.id),
      instances.map((row) => (Array.isArray(row) ? undefined : (row as Json).id)),
    );
    assert.deepEqual(
      lines.map(({ id, ...prediction }) => prediction),
      expected,
    );

    // The same rows to CSV: ids (numbers, strings) in the id column, empty for rows without one.
    const csv = await runCli(['predict', 'iris', '--input', input, '--output', path.join(work, 'out.csv')], env);
    assert.equal(csv.code, 0, csv.stderr);
    const [header, first, , , , fifth] = (await readFile(path.join(work, 'out.csv'), 'utf8')).split('\n');
    assert.equal(header, 'id,label,p_setosa,p_versicolor,p_virginica');
    assert.match(first, /^0,setosa,/);
    assert.match(fifth, /^,setosa,/);
  });

  test('regression: {"prediction": v} or prediction_0..k, the server’s values', async () => {
    const work = await workDir('regression');
    const input = path.join(work, 'rows.csv');
    await writeFile(input, irisCsv(iris.slice(40, 60)));
    const instances = iris.slice(40, 60).map(({ values }) => values);
    const one = await runCli(['predict', 'wine', '--input', input, '--output', path.join(work, 'wine.jsonl')], env);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(
      (await readJsonl(path.join(work, 'wine.jsonl'))).map(({ id, ...p }) => p),
      await serverPredictions('wine', instances),
    );
    // --id-column: another column as the id ("id" is then an ignored column).
    const two = await runCli(
      ['predict', 'pair', '--input', input, '--output', path.join(work, 'pair.csv'), '--id-column', 'species', '--json'],
      env,
    );
    assert.equal(two.code, 0, two.stderr);
    assert.deepEqual(JSON.parse(two.stdout).ignoredColumns, ['id']);
    const [header, ...rows] = (await readFile(path.join(work, 'pair.csv'), 'utf8')).trimEnd().split('\n');
    assert.equal(header, 'species,prediction_0,prediction_1');
    assert.deepEqual(
      rows.map((row) => row.split(',')[0]),
      iris.slice(40, 60).map((r) => r.species),
    );
    assert.deepEqual(
      rows.map((row) => ({ prediction: row.split(',').slice(1).map(Number) })),
      await serverPredictions('pair', instances),
    );
  });

  test('NAME:VERSION and NAME@ALIAS; a missing version, alias or model is exit 4, a malformed reference exit 2', async () => {
    const work = await workDir('refs');
    const input = path.join(work, 'rows.csv');
    await writeFile(input, irisCsv(iris.slice(0, 3)));
    for (const ref of ['iris:1', 'iris@candidate']) {
      const result = await runCli(
        ['predict', ref, '--input', input, '--output', path.join(work, `${ref.replace(/\W/g, '_')}.csv`), '--json'],
        env,
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(JSON.parse(result.stdout).version, 1);
    }
    const out = path.join(work, 'never.csv');
    assertRefused(
      await runCli(['predict', 'iris:9', '--input', input, '--output', out], env),
      /model iris has no version 9 \(versions: 1\)/,
      4,
    );
    assertRefused(await runCli(['predict', 'iris@nope', '--input', input, '--output', out], env), /model iris has no alias "nope"/, 4);
    assertRefused(await runCli(['predict', 'tulip', '--input', input, '--output', out], env), /no model named tulip/, 4);
    assertRefused(await runCli(['predict', 'iris:one', '--input', input, '--output', out], env), /positive integer/);
    assert.equal((await readdir(work)).includes('never.csv'), false);
  });

  test('a bad row in the middle: exit 2 naming the row, line and column; no output and no temp file', async () => {
    const work = await workDir('bad');
    const rows = [...iris, ...iris, ...iris]; // 450 rows: several batches of 100 are written before row 321
    const lines = irisCsv(rows).split('\n');
    lines[321] = lines[321].replace(/^([^,]*,[^,]*,[^,]*,[^,]*,[^,]*),[^,]*$/, '$1,abc'); // data row 321, sepal_width
    const input = path.join(work, 'rows.csv');
    await writeFile(input, lines.join('\n'));
    const out = path.join(work, 'out.csv');
    assertRefused(
      await runCli(['predict', 'iris', '--input', input, '--output', out, '--batch-size', '100'], env),
      /rows\.csv: row 321 \(line 322\), column "sepal_width": not a finite number/,
    );
    assert.deepEqual(await readdir(work), ['rows.csv'], 'neither the output nor a temp file');

    // JSONL: what the server would refuse, named by row and feature.
    const jsonl = path.join(work, 'rows.jsonl');
    const objects = rows.slice(0, 250).map(({ values }) => Object.fromEntries(FEATURES.map((f, j) => [f, values[j]])));
    (objects[219] as Json).petal_length = 'x';
    await writeFile(jsonl, `${objects.map((o) => JSON.stringify(o)).join('\n')}\n`);
    assertRefused(
      await runCli(['predict', 'iris', '--input', jsonl, '--output', out, '--batch-size', '64'], env),
      /rows\.jsonl: row 220 \(line 220\), feature "petal_length": expected a number, got string "x"/,
    );
    await writeFile(jsonl, '[5.1, 3.5, 1.4, 0.2]\n\n{"sepal_length": 5\n');
    assertRefused(
      await runCli(['predict', 'iris', '--input', jsonl, '--output', out], env),
      /rows\.jsonl: row 2 \(line 3\): not valid JSON/,
    );
    await writeFile(jsonl, '[5.1, 3.5, 1.4]\n');
    assertRefused(
      await runCli(['predict', 'iris', '--input', jsonl, '--output', out], env),
      /row 1 \(line 1\): has 3 values but shape \[4\] needs 4/,
    );
    await writeFile(jsonl, '{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2, "color": 1}\n');
    assertRefused(await runCli(['predict', 'iris', '--input', jsonl, '--output', out], env), /row 1 \(line 1\): unknown feature "color"/);
    assert.deepEqual((await readdir(work)).sort(), ['rows.csv', 'rows.jsonl']);
  });

  test('input problems before anything is scored: missing feature column, empty file, no such file', async () => {
    const work = await workDir('input');
    const out = path.join(work, 'out.csv');
    const input = path.join(work, 'rows.csv');
    await writeFile(input, 'id,sepal_length,sepal_width,petal_length\n1,5.1,3.5,1.4\n');
    assertRefused(await runCli(['predict', 'iris', '--input', input, '--output', out], env), /no column for feature\(s\) "petal_width"/);
    await writeFile(input, '');
    assertRefused(await runCli(['predict', 'iris', '--input', input, '--output', out], env), /the file is empty/);
    assertRefused(
      await runCli(['predict', 'iris', '--input', path.join(work, 'none.csv'), '--output', out], env),
      /cannot read .*none\.csv: no such file/,
    );
    assertRefused(await runCli(['predict', 'iris', '--input', input, '--output', input], env), /is the --input file/);
    assert.deepEqual(await readdir(work), ['rows.csv']);
    // A header and no rows: a header and no rows.
    await writeFile(input, 'sepal_length,sepal_width,petal_length,petal_width\n');
    const empty = await runCli(['predict', 'iris', '--input', input, '--output', out, '--json'], env);
    assert.equal(empty.code, 0, empty.stderr);
    assert.equal(JSON.parse(empty.stdout).rows, 0);
    assert.equal(await readFile(out, 'utf8'), 'label,p_setosa,p_versicolor,p_virginica\n');
  });

  test('an existing --output is refused unless --force, which replaces it atomically', async () => {
    const work = await workDir('force');
    const input = path.join(work, 'rows.csv');
    await writeFile(input, irisCsv(iris.slice(0, 5)));
    const out = path.join(work, 'out.csv');
    await writeFile(out, 'precious');
    assertRefused(
      await runCli(['predict', 'iris', '--input', input, '--output', out], env),
      /--output .*out\.csv already exists; add --force to replace it/,
    );
    assert.equal(await readFile(out, 'utf8'), 'precious');
    assertRefused(
      await runCli(['predict', 'iris', '--input', input, '--output', work], env),
      /--output .* is a folder; give the output file's path/,
    );
    const forced = await runCli(['predict', 'iris', '--input', input, '--output', out, '--force'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(await readFile(out, 'utf8'), /^id,label,/);
    assert.deepEqual((await readdir(work)).sort(), ['out.csv', 'rows.csv']);
  });

  test('SIGTERM while scoring removes the temp file (exit 143)', { timeout: 120_000 }, async () => {
    const work = await workDir('signal');
    const input = path.join(work, 'big.csv');
    const many = Array.from({ length: 2000 }, () => iris).flat(); // 300,000 rows: seconds of work
    await writeFile(input, irisCsv(many));
    const child = spawn(
      process.execPath,
      [path.join(ROOT, 'bin/bnserve.js'), 'predict', 'iris', '--input', input, '--output', path.join(work, 'out.csv')],
      {
        env: { ...process.env, ...env },
        stdio: 'ignore',
      },
    );
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    let sawTemp = false;
    for (let i = 0; i < 1000 && !sawTemp; i++) {
      sawTemp = (await readdir(work)).some((name) => name.includes('.tmp-'));
      if (!sawTemp) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(sawTemp, 'the temp output appeared');
    child.kill('SIGTERM');
    assert.equal(await exited, 143);
    assert.deepEqual(await readdir(work), ['big.csv']);
  });
});

describe('predict pieces', () => {
  test('model references', () => {
    assert.deepEqual(parseModelRef('iris'), { name: 'iris', kind: 'default' });
    assert.deepEqual(parseModelRef('iris:12'), { name: 'iris', kind: 'version', version: 12 });
    assert.deepEqual(parseModelRef('iris@production'), { name: 'iris', kind: 'alias', alias: 'production' });
    assert.throws(() => parseModelRef('iris:production'), /for an alias write iris@production/);
    assert.throws(() => parseModelRef('iris@1'), /the alias after "@" starts with a letter/);
    assert.throws(() => parseModelRef('iris:0'), /positive integer/);
    assert.throws(() => parseModelRef(':1'), /expected NAME, NAME:VERSION or NAME@ALIAS/);
  });

  test('row messages name the feature', () => {
    assert.equal(
      rowDetail('[0].sepal_length: expected a number, got null', FEATURES),
      ', feature "sepal_length": expected a number, got null',
    );
    assert.equal(rowDetail('[0][2]: expected a finite number', FEATURES), ', feature "petal_length": expected a finite number');
    assert.equal(rowDetail('[0][7]: expected a finite number', []), ', value 8: expected a finite number');
    assert.equal(rowDetail('[0]: is empty, expected 4 values', FEATURES), ': is empty, expected 4 values');
  });

  test('CSV fields are quoted only when they must be', () => {
    assert.equal(csvField('setosa'), 'setosa');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField(' padded'), '" padded"');
  });

  test('the progress bar draws on a terminal only', () => {
    let drawn = '';
    const tty = Object.assign(
      new Writable({
        write(chunk, _encoding, done) {
          drawn += String(chunk);
          done();
        },
      }),
      { isTTY: true, columns: 120, cursorTo: () => true, clearLine: () => true, moveCursor: () => true },
    ) as unknown as NodeJS.WriteStream;
    const bar = createPredictProgress(1000, tty);
    bar.update(500, 12345);
    bar.stop();
    assert.match(drawn, /predict \[.*\] (50|100)% \| 12345 rows/);
    drawn = '';
    const pipe = Object.assign(tty, { isTTY: false });
    const none = createPredictProgress(1000, pipe);
    none.update(500, 1);
    none.stop();
    assert.equal(drawn, '');
  });
});
