import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openRegistry } from '../../src/registry/index.ts';
import { ROOT, registryEnv, runCli } from './run-cli.ts';
import { tempDir } from '../train/helpers.ts';

test('SIGKILL during `bnserve train` leaves no model version and no artifact; the next command marks the run failed', {
  timeout: 120_000,
}, async (t) => {
  const dir = await tempDir(t);
  const config = path.join(dir, 'long.json');
  await writeFile(
    config,
    JSON.stringify({
      name: 'killed',
      data: { kind: 'synthetic', samples: 2000, features: 16, classes: 3 },
      layers: [{ type: 'dense', units: 64 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }],
      epochs: 10000,
      batchSize: 8,
    }),
  );
  const env = { ...process.env, ...registryEnv(dir) };
  const out = path.join(dir, 'checkpoint');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/bnserve.js'), 'train', '--config', config, '--out', out], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const runId = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      const id = /\(run ([0-9a-f-]+)\)/.exec(stderr)?.[1];
      if (id && /epoch 3\//.test(stderr)) resolve(id); // killed mid-training, after a few recorded epochs
    });
    child.on('exit', (code) => reject(new Error(`trainer exited early (${code}): ${stderr}`)));
  });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('close', resolve));

  // Nobody has noticed yet: the run still says running.
  const registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
  t.after(() => registry.close());
  assert.equal((await registry.getRun(runId))?.status, 'running');

  // The next bnserve command settles it, once the heartbeat is older than the stale limit.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const list = await runCli(['models', 'list', '--json'], { ...env, BNSERVE_STALE_RUN_SECONDS: '1' });
  assert.equal(list.code, 0, list.stderr);
  assert.deepEqual(JSON.parse(list.stdout), { models: [] });
  const run = await registry.getRun(runId);
  assert.equal(run?.status, 'failed');
  assert.match(run?.error ?? '', /heartbeat/i);
  assert.ok((run?.epochs.length ?? 0) >= 2, 'epochs recorded before the kill are kept');
  assert.equal(existsSync(out), false, 'no checkpoint at the final path');
});
