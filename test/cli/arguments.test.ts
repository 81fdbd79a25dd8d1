import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registryEnv, runCli } from './run-cli.ts';
import { tempDir } from '../train/helpers.ts';

// Bad command-line arguments are bad input: exit 2 with commander's message, before anything is opened.
const cases: { args: string[]; message: RegExp }[] = [
  { args: ['train', '--config', 'x.json', '--bogus'], message: /unknown option '--bogus'/ },
  { args: ['train'], message: /required option '--config <file>' not specified/ },
  { args: ['serve', '--port', '99999'], message: /a port must be between 0 and 65535/ },
  { args: ['serve', '--port', '-1'], message: /a port must be between 0 and 65535/ },
  { args: ['start', '--port', '70000'], message: /a port must be between 0 and 65535/ },
  { args: ['report', '--checkpoint', 'x', '--out', 'y.svg', '--resolution', '0'], message: /resolution must be between 2 and 1000/ },
  { args: ['models', 'list', '--nope'], message: /unknown option '--nope'/ },
];

for (const c of cases) {
  test(`bnserve ${c.args.join(' ')} → exit 2`, async (t) => {
    const dir = await tempDir(t);
    const result = await runCli(c.args, registryEnv(dir));
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, c.message);
    assert.doesNotMatch(result.stderr, /unexpected error|\n\s+at /);
  });
}

test('--help still exits 0', async () => {
  const result = await runCli(['train', '--help']);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /--config <file>/);
});

test('--json gets the argument error as JSON on stdout', async () => {
  const result = await runCli(['models', 'list', '--json', '--nope']);
  assert.equal(result.code, 2);
  assert.match(JSON.parse(result.stdout).error, /unknown option '--nope'/);
});

test('export --opset outside the supported range is bad input (exit 2), not a refused export', async (t) => {
  const dir = await tempDir(t);
  const result = await runCli(['export', '--checkpoint', dir, '--out', `${dir}/m.onnx`, '--opset', '12', '--json']);
  assert.equal(result.code, 2, result.stderr);
  assert.match(JSON.parse(result.stdout).error, /--opset 12 is not supported: use 13\.\.21/);
});
