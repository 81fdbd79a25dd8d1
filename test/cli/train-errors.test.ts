import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registryEnv, runCli } from './run-cli.ts';
import { tempDir } from '../train/helpers.ts';

const layers = [{ type: 'dense', units: 4 }, { type: 'batchNormalization' }];

const numericLabels = `a,b,y\n${Array.from({ length: 40 }, (_, i) => `${i},${i % 7},${(i * 0.37).toFixed(2)}`).join('\n')}\n`;

const cases: {
  name: string;
  config: object;
  csv?: string;
  /** Makes data.csv some other way. */
  prepare?: (dataFile: string) => Promise<void>;
  env?: Record<string, string>;
  args?: string[];
  message: RegExp;
}[] = [
  { name: 'unknown layer', config: { data: { kind: 'iris' }, layers: [{ type: 'lstm', units: 4 }] }, message: /→ at layers\[0\]\.type/ },
  {
    name: 'negative learning rate',
    config: { data: { kind: 'iris' }, layers, optimizer: { type: 'sgd', learningRate: -0.01 } },
    message: /→ at optimizer\.learningRate/,
  },
  {
    name: 'missing label column',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'species' }, layers },
    csv: 'a,b,kind\n1,2,x\n3,4,y\n',
    message: /label column "species" not found/,
  },
  {
    name: 'non-numeric CSV cell',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'label' }, layers },
    csv: 'a,b,label\n1,2,x\n3,4,y\n5,six,x\n',
    message: /row 4, column "b": not a finite number$/m,
  },
  {
    name: 'empty file',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'label' }, layers },
    csv: '',
    message: /the file is empty/,
  },
  {
    name: 'conv2d layer on tabular data (refused before the run is registered)',
    config: { data: { kind: 'iris' }, layers: [{ type: 'conv2d', filters: 4, kernelSize: 3 }] },
    message: /layers\.0 \(conv2d\) needs image input \[height, width, channels\], but it receives \[4\]/,
  },
  {
    name: 'a layer far too wide',
    config: { data: { kind: 'iris' }, layers: [{ type: 'dense', units: 1e8 }] },
    message: /✖ Too big.*\n {2}→ at layers\[0\]\.units/,
  },
  {
    name: 'a model over the weight budget',
    config: {
      data: { kind: 'iris' },
      layers: [
        { type: 'dense', units: 65536 },
        { type: 'dense', units: 65536 },
      ],
    },
    message: /the model would have 4,295,[0-9,]+ weights, more than the 67,108,864/,
  },
  {
    name: '--name that is not a model name',
    config: { data: { kind: 'iris' }, layers },
    args: ['--name', '../x'],
    message: /--name: invalid model name "\.\.\/x"/,
  },
  {
    name: 'duplicate CSV header names',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'label' }, layers },
    csv: 'a,b,a,label\n1,2,3,x\n3,4,5,y\n',
    message: /header names "a" more than once/,
  },
  {
    name: 'a numeric label column taken as classes',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'y' }, layers },
    csv: numericLabels,
    message: /label column "y" has 40 classes and 40 of them have fewer than 3 rows .*did you mean "task": "regression"\?/,
  },
  {
    name: 'data.path is a FIFO (refused at once: opening it would block)',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'label' }, layers },
    prepare: async (file) => {
      execFileSync('mkfifo', [file]);
    },
    message: /data\.csv is a pipe: only regular files are read/,
  },
  {
    name: 'data.path is a device',
    config: { data: { kind: 'csv', path: '/dev/zero', labelColumn: 'label' }, layers },
    message: /\/dev\/zero is a device: only regular files are read/,
  },
  {
    name: 'data.path over BNSERVE_MAX_DATA_MB',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'label' }, layers },
    prepare: async (file) => {
      await writeFile(file, 'a,label\n');
      await truncate(file, 3 * 1024 * 1024);
    },
    env: { BNSERVE_MAX_DATA_MB: '1' },
    message: /data\.csv is 3 MiB, over the 1 MiB limit on data files; raise BNSERVE_MAX_DATA_MB to read it/,
  },
];

for (const c of cases) {
  test(`train refuses a bad config: ${c.name}`, async (t) => {
    const dir = await tempDir(t);
    const configFile = path.join(dir, 'config.json');
    await writeFile(configFile, JSON.stringify(c.config));
    if (c.csv !== undefined) await writeFile(path.join(dir, 'data.csv'), c.csv);
    await c.prepare?.(path.join(dir, 'data.csv'));
    const out = path.join(dir, 'checkpoint');
    const result = await runCli(['train', '--config', configFile, '--out', out, '--json', ...(c.args ?? [])], {
      ...registryEnv(dir),
      ...c.env,
    });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, c.message);
    // One message (zod's issue list may take several lines), never a stack trace.
    assert.match(result.stderr, /^bnserve: error: /);
    assert.equal((result.stderr.match(/bnserve: /g) ?? []).length, 1, `one message: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /\n\s+at /, `no stack trace: ${result.stderr}`);
    assert.match(JSON.parse(result.stdout).error, c.message);
    assert.equal(existsSync(out), false, 'no checkpoint written');
    assert.equal(existsSync(path.join(dir, 'registry.db')), false, 'nothing registered');
  });
}
