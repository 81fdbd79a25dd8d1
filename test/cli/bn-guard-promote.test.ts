// A run whose BN statistics the guard flags is registered with the flag, shown by `models show`,
// and no alias moves to it unless --force.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { ROOT, registryEnv, runCli } from './run-cli.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'bnserve-bn-guard-'));
after(() => rm(dir, { recursive: true, force: true }));

test('a flagged version: registered with its warning, promote refused (exit 4) without --force, allowed with it', async () => {
  const env = registryEnv(dir);
  const config = JSON.parse(await import('node:fs/promises').then((fs) => fs.readFile(path.join(ROOT, 'examples/iris-bn.json'), 'utf8')));
  const configFile = path.join(dir, 'few-steps.json');
  await writeFile(configFile, JSON.stringify({ ...config, name: 'fewsteps', epochs: 1 })); // 7 BN updates at momentum 0.99
  const trained = await runCli(['train', '--config', configFile, '--json', '--out', path.join(dir, 'ckpt')], env);
  assert.equal(trained.code, 0, trained.stderr);
  const result = JSON.parse(trained.stdout);
  assert.equal(result.bnGuard.stale, true);

  const show = await runCli(['models', 'show', 'fewsteps', '--json'], env);
  assert.equal(show.code, 0, show.stderr);
  const [version] = JSON.parse(show.stdout).versions;
  assert.match(version.bnGuardWarning, /stale/);
  const text = await runCli(['models', 'show', 'fewsteps'], env);
  assert.match(text.stdout, /FLAGGED/);
  assert.match(text.stdout, /version 1 flagged by the BN guard/);

  const refused = await runCli(['models', 'promote', 'fewsteps', '1'], env);
  assert.equal(refused.code, 4, refused.stderr);
  assert.match(refused.stderr, /flagged by the BN guard.*--force/s);
  const after = await runCli(['models', 'show', 'fewsteps', '--json'], env);
  assert.deepEqual(JSON.parse(after.stdout).aliases, {}, 'nothing moved');

  const forced = await runCli(['models', 'promote', 'fewsteps', '1', '--force', '--json'], env);
  assert.equal(forced.code, 0, forced.stderr);
  assert.equal(JSON.parse(forced.stdout).version, 1);
});
