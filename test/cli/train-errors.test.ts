import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { registryEnv, runCli } from './run-cli.ts';
import { tempDir } from '../train/helpers.ts';

const layers = [{ type: 'dense', units: 4 }, { type: 'batchNormalization' }];

const cases: { name: string; config: object; csv?: string; message: RegExp }[] = [
  { name: 'unknown layer', config: { data: { kind: 'iris' }, layers: [{ type: 'lstm', units: 4 }] }, message: /layers\.0\.type/ },
  {
    name: 'negative learning rate',
    config: { data: { kind: 'iris' }, layers, optimizer: { type: 'sgd', learningRate: -0.01 } },
    message: /optimizer\.learningRate/,
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
    message: /row 4, column "b": "six" is not a finite number/,
  },
  {
    name: 'empty file',
    config: { data: { kind: 'csv', path: 'data.csv', labelColumn: 'label' }, layers },
    csv: '',
    message: /the file is empty/,
  },
];

for (const c of cases) {
  test(`train refuses a bad config: ${c.name}`, async (t) => {
    const dir = await tempDir(t);
    const configFile = path.join(dir, 'config.json');
    await writeFile(configFile, JSON.stringify(c.config));
    if (c.csv !== undefined) await writeFile(path.join(dir, 'data.csv'), c.csv);
    const out = path.join(dir, 'checkpoint');
    const result = await runCli(['train', '--config', configFile, '--out', out, '--json'], registryEnv(dir));
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, c.message);
    assert.equal(result.stderr.trim().split('\n').length, 1, `one message: ${result.stderr}`);
    assert.match(JSON.parse(result.stdout).error, c.message);
    assert.equal(existsSync(out), false, 'no checkpoint written');
    assert.equal(existsSync(path.join(dir, 'registry.db')), false, 'nothing registered');
  });
}
