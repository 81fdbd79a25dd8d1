import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openRegistry } from '../../src/registry/index.ts';
import { registryEnv, runCli } from './run-cli.ts';
import { assertConverged } from '../../src/commands/train.ts';
import { tempDir } from '../train/helpers.ts';

test('a diverged run fails (exit 5): no checkpoint, no model version, the run says why', async (t) => {
  const dir = await tempDir(t);
  const config = path.join(dir, 'diverge.json');
  await writeFile(
    config,
    JSON.stringify({
      name: 'diverged',
      data: { kind: 'iris' },
      standardize: false,
      layers: [{ type: 'dense', units: 8 }],
      optimizer: { type: 'sgd', learningRate: 1e30 },
      epochs: 5,
      batchSize: 16,
    }),
  );
  const env = registryEnv(dir);
  const out = path.join(dir, 'checkpoint');
  const result = await runCli(['train', '--config', config, '--out', out, '--json'], env);
  assert.equal(result.code, 5, result.stderr);
  assert.match(result.stderr, /training diverged: .*lower the learning rate/);
  assert.equal(existsSync(out), false);

  const registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
  t.after(() => registry.close());
  assert.deepEqual(await registry.listModels(), []);
  const runId = JSON.parse(result.stdout).error ? /\(run ([0-9a-f-]+)\)/.exec(result.stderr)?.[1] : undefined;
  assert.ok(runId, 'the run id is printed');
  const run = await registry.getRun(runId!);
  assert.equal(run?.status, 'failed');
  assert.match(run?.error ?? '', /diverged/);
});

test('a NaN loss in any epoch is divergence, with the epoch and learning rate named', () => {
  const epoch = (n: number, loss: number) => ({ epoch: n, loss, learningRate: 0.5 }) as never;
  assert.throws(
    () => assertConverged({ epochs: [epoch(1, 2.3), epoch(2, NaN)], test: { loss: 1 } }),
    /loss became NaN at epoch 2 \(learning rate 0\.5\)/,
  );
  assert.throws(() => assertConverged({ epochs: [epoch(1, 2.3)], test: { accuracy: 0.3, loss: Infinity } }), /test loss = Infinity/);
  assert.doesNotThrow(() => assertConverged({ epochs: [epoch(1, 2.3)], test: { loss: 0.2, accuracy: 0.9 } }));
});
