// `bnserve register`: a --no-export checkpoint (or an unfolded export) becomes a servable version.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { registryEnv, runCli } from './run-cli.ts';

let dir: string;
let env: Record<string, string>;
const checkpoint = () => path.join(dir, 'ckpt');

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-register-'));
  env = registryEnv(dir);
  const r = await runCli(['train', '--config', 'examples/iris-bn.json', '--no-export', '--out', checkpoint(), '--json'], env);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rm(dir, { recursive: true, force: true }));

test('registers a --no-export checkpoint with its run id; --no-fold registers an unfolded version', { timeout: 120_000 }, async () => {
  const runId = JSON.parse(await readFile(path.join(checkpoint(), 'metrics.json'), 'utf8')).runId;
  const first = await runCli(['register', '--checkpoint', checkpoint(), '--json'], env);
  assert.equal(first.code, 0, first.stderr);
  const a = JSON.parse(first.stdout);
  assert.deepEqual([a.name, a.version, a.runId, a.folded], ['iris', 1, runId, true]);
  assert.ok(a.parityMaxAbsDiff <= 1e-5);
  assert.doesNotMatch(first.stderr, /looks like you are running TensorFlow\.js/);

  const second = await runCli(['register', '--checkpoint', checkpoint(), '--no-fold', '--name', 'iris-unfolded', '--json'], env);
  assert.equal(second.code, 0, second.stderr);
  assert.deepEqual([JSON.parse(second.stdout).name, JSON.parse(second.stdout).folded], ['iris-unfolded', false]);

  const show = await runCli(['models', 'show', 'iris', '--json'], env);
  assert.equal(show.code, 0, show.stderr);
  assert.match(show.stdout, new RegExp(runId));
});

test('bad arguments exit 2 before the registry is touched', async () => {
  const r = await runCli(['register', '--checkpoint', checkpoint(), '--opset', '99'], env);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--opset 99 is not supported/);
  const bad = await runCli(['register', '--checkpoint', checkpoint(), '--name', '../x'], env);
  assert.equal(bad.code, 2, bad.stderr);
});

test('export and report print no tfjs "install tfjs-node" advice', { timeout: 120_000 }, async () => {
  for (const args of [
    ['export', '--checkpoint', checkpoint(), '--out', path.join(dir, 'm.onnx')],
    ['report', '--checkpoint', checkpoint(), '--out', path.join(dir, 'r.svg')],
  ]) {
    const r = await runCli(args, env);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /looks like you are running TensorFlow\.js/, args[0]);
  }
});

test("README's command list agrees with --help: every command and option listed exists", async () => {
  const readme = await readFile(path.join(import.meta.dirname, '../../README.md'), 'utf8');
  const block = /## Command line\n\n```\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const lines = block.split('\n').filter((l) => l.startsWith('bnserve '));
  assert.ok(lines.length >= 8);
  const top = await runCli(['--help']);
  for (const line of lines) {
    const command = line.split(/\s+/)[1];
    assert.match(top.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), command);
    const help = await runCli(command === 'models' ? ['models', 'promote', '--help'] : [command, '--help']);
    for (const option of line.match(/--[a-z-]+/g) ?? []) assert.ok(help.stdout.includes(option), `${command} --help lists ${option}`);
  }
  const bad = await runCli(['serve', '--bogus']);
  assert.equal(bad.code, 2);
  assert.match(readme, /2 bad config\/data\/arguments/);
});
