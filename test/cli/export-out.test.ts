// Where export and triton-export write: refused (exit 2, one line, nothing written) when the path is
// wrong or taken, never an "unexpected error" half-way through; --force replaces an --out file.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { type CliResult, registryEnv, runCli } from './run-cli.ts';

let dir: string;
let env: Record<string, string>;
const checkpoint = () => path.join(dir, 'ckpt');

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-export-out-'));
  env = { ...registryEnv(dir), BNSERVE_EXECUTION_PROVIDERS: 'cpu' };
  const trained = await runCli(['train', '--config', 'examples/iris-bn.json', '--out', checkpoint(), '--json'], env);
  assert.equal(trained.code, 0, trained.stderr);
});
after(() => rm(dir, { recursive: true, force: true }));

/** Exit 2 with one line of what to change: no "unexpected error", no stack trace. */
function assertRefused(result: CliResult, message: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^bnserve: error: /);
  assert.match(result.stderr, message);
  assert.equal(result.stderr.trimEnd().split('\n').length, 1, `one line: ${result.stderr}`);
  assert.doesNotMatch(result.stderr, /unexpected error|\n\s+at /);
}

test('export --out refuses an existing file unless --force, which replaces it', { timeout: 120_000 }, async () => {
  const work = await mkdtemp(path.join(dir, 'force-'));
  const out = path.join(work, 'm.onnx');
  await writeFile(out, 'precious');
  assertRefused(
    await runCli(['export', '--checkpoint', checkpoint(), '--out', out], env),
    /--out .*m\.onnx already exists; add --force to replace it/,
  );
  assert.equal(await readFile(out, 'utf8'), 'precious');
  // Checked first: not after an export that may take minutes (here: one that would fail, exit 3).
  assertRefused(await runCli(['export', '--checkpoint', work, '--out', out], env), /already exists; add --force/);

  const forced = await runCli(['export', '--checkpoint', checkpoint(), '--out', out, '--force', '--json'], env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal((await readFile(out)).byteLength, JSON.parse(forced.stdout).bytes);
  assert.deepEqual(await readdir(work), ['m.onnx'], 'no temp file left');
});

test('export --out that is a folder, or below a file, is refused naming the path', async () => {
  const work = await mkdtemp(path.join(dir, 'paths-'));
  assertRefused(
    await runCli(['export', '--checkpoint', checkpoint(), '--out', work], env),
    /--out .* is a folder; give the ONNX file's path/,
  );
  const file = path.join(work, 'file');
  await writeFile(file, 'mine');
  assertRefused(
    await runCli(['export', '--checkpoint', checkpoint(), '--out', path.join(file, 'm.onnx')], env),
    /--out .*file\/m\.onnx: .*file is not a folder; choose a path inside a folder/,
  );
  assert.deepEqual(await readdir(work), ['file']);
});

test('export --triton-repo FILE is refused before --out is written', { timeout: 120_000 }, async () => {
  const work = await mkdtemp(path.join(dir, 'triton-'));
  const out = path.join(work, 'm.onnx');
  const file = path.join(work, 'repo-file');
  await writeFile(file, 'mine');
  assertRefused(
    await runCli(['export', '--checkpoint', checkpoint(), '--out', out, '--triton-repo', file], env),
    /--triton-repo .*repo-file: .*repo-file is a file, not a folder; --triton-repo must be a new folder or a Triton model repository/,
  );
  // A file where the model's folder goes.
  const repo = path.join(work, 'repo');
  await mkdir(repo);
  await writeFile(path.join(repo, 'iris'), 'mine');
  assertRefused(
    await runCli(['export', '--checkpoint', checkpoint(), '--out', out, '--triton-repo', repo], env),
    /repo\/iris is a file, not a folder/,
  );
  assert.deepEqual((await readdir(work)).sort(), ['repo', 'repo-file'], '--out not written');
  assert.equal(await readFile(file, 'utf8'), 'mine');
});

test('models triton-export --out FILE is refused, the file kept', async () => {
  const file = path.join(dir, 'triton-out-file');
  await writeFile(file, 'mine');
  assertRefused(
    await runCli(['models', 'triton-export', 'iris', '1', '--out', file], env),
    /--out .*triton-out-file: .*triton-out-file is a file, not a folder; --out must be a new folder or a Triton model repository/,
  );
  assert.equal(await readFile(file, 'utf8'), 'mine');
});
