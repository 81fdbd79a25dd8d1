import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openRegistry } from '../../src/registry/index.ts';
import { ROOT, registryEnv, runCli } from './run-cli.ts';
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

/** Trains `config` through the CLI and checks the failure contract: exit 5, no checkpoint, no version, a failed run. */
async function expectDiverged(t: import('node:test').TestContext, config: object, message: RegExp) {
  const dir = await tempDir(t);
  const file = path.join(dir, 'config.json');
  await writeFile(file, JSON.stringify(config));
  const env = registryEnv(dir);
  const out = path.join(dir, 'checkpoint');
  const result = await runCli(['train', '--config', file, '--out', out, '--json'], env);
  assert.equal(result.code, 5, result.stderr);
  assert.match(JSON.parse(result.stdout).error, message);
  assert.match(result.stderr, /Nothing was saved or registered/);
  assert.equal(existsSync(out), false, 'no checkpoint');
  const registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
  t.after(() => registry.close());
  assert.deepEqual(await registry.listModels(), []);
  const runId = /\(run ([0-9a-f-]+)\)/.exec(result.stderr)?.[1];
  const run = await registry.getRun(runId!);
  assert.equal(run?.status, 'failed');
  assert.match(run?.error ?? '', /diverged/);
  return run!;
}

test('NaN weights behind a finite loss (ReLU hides them) are divergence: exit 5, not a parity failure', async (t) => {
  const run = await expectDiverged(
    t,
    {
      name: 'nanweights',
      data: { kind: 'iris' },
      layers: [{ type: 'dense', units: 8 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }],
      optimizer: { type: 'sgd', learningRate: 1e30 },
      epochs: 5,
      batchSize: 16,
    },
    /72 of 99 weights and BatchNormalization moving statistics became NaN or Infinity at epoch 1 .*moving_mean.*learning rate 1e\+30/,
  );
  assert.equal(run.epochs.length, 1, 'training stopped at the first epoch with NaN weights');
});

test('a learning rate so large that the classifier collapses onto saturated answers is divergence (exit 5)', async (t) => {
  const example = JSON.parse(await readFile(path.join(ROOT, 'examples/iris-bn.json'), 'utf8'));
  const run = await expectDiverged(
    t,
    { ...example, optimizer: { ...example.optimizer, learningRate: 1e6 }, epochs: 30 },
    /the model collapsed: .*always the same class.*the learning rate 1000000 is too large even with standardised inputs: lower it/,
  );
  assert.equal(run.epochs.length, 30, 'every epoch stays recorded with the failed run');
});
