import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openRegistry } from '../../src/registry/index.ts';
import { ROOT, registryEnv, runCli } from './run-cli.ts';
import { assertConverged, divergedRunFolder } from '../../src/commands/train.ts';
import { keepDivergedRun } from '../../src/commands/diverged-run.ts';
import { parseTrainConfig } from '../../src/train/config.ts';
import type { TrainResult } from '../../src/train/trainer.ts';
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

test('the tutorial Adaline at lr 0.01 on raw features fails (exit 5) naming the rate and the raw inputs, and keeps its epochs and cost plot', async (t) => {
  const dir = await tempDir(t);
  const env = registryEnv(dir);
  const out = path.join(dir, 'adaline');
  const result = await runCli(['train', '--config', path.join(ROOT, 'examples/seed/adaline-raw-lr0.01.json'), '--out', out, '--json'], env);
  assert.equal(result.code, 5, result.stderr);
  const message = JSON.parse(result.stdout).error as string;
  assert.match(message, /grew from 50\.0 \(first batch\) to 7\.8\de\+28 at epoch 10/);
  assert.match(message, /learning rate 0\.01 is too large for raw \(unstandardised\) inputs: standardise them \("standardize": true\)/);
  const kept = `${out}.diverged`;
  assert.ok(message.includes(`kept in ${kept}`), message);
  assert.equal(existsSync(out), false, 'no checkpoint');
  assert.equal(existsSync(path.join(kept, 'model.json')), false, 'the run folder holds no model');
  const metrics = JSON.parse(await readFile(path.join(kept, 'metrics.json'), 'utf8'));
  assert.equal(metrics.diverged, true);
  assert.equal(metrics.epochs.length, 10);
  assert.equal(metrics.epochs[0].loss, 50);
  assert.match(await readFile(path.join(kept, 'cost.svg'), 'utf8'), /^<svg[\s\S]*cost \(log10 scale\)[\s\S]*>1e29</);

  const registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
  t.after(() => registry.close());
  assert.deepEqual(await registry.listModels(), []);
  const runId = /\(run ([0-9a-f-]+)\)/.exec(result.stderr)?.[1];
  const run = await registry.getRun(runId!);
  assert.equal(run?.status, 'failed');
  assert.equal(run?.epochs.length, 10, 'every epoch stays recorded with the failed run');

  // The same config standardised converges: the gate is about the run, not the model kind.
  const fine = await runCli(
    ['train', '--config', path.join(ROOT, 'examples/seed/adaline-std-lr0.01.json'), '--out', path.join(dir, 'std'), '--json'],
    env,
  );
  assert.equal(fine.code, 0, fine.stderr);
  const summary = JSON.parse(fine.stdout);
  assert.equal(summary.bnGuard, undefined, 'no BN layer: no BN guard');
  assert.equal(summary.model.folded, false, 'no BN layer: nothing folded');
  assert.deepEqual(summary.test, {}, 'no test split: no test metrics');
});

test('a diverged run without --out is kept under data/runs/<name>/<run id>, beside the checkpoints root', () => {
  assert.equal(divergedRunFolder({ checkpointsRoot: '/x/data/checkpoints' }, 'm', 'r1'), path.resolve('/x/data/runs/m/r1'));
  assert.equal(divergedRunFolder({ out: '/x/ckpt/' }, 'm', 'r1'), path.resolve('/x/ckpt.diverged'));
});

test('a diverged run is kept only where it replaces nothing of the user’s: file names alike are no evidence', async (t) => {
  const dir = path.join(await tempDir(t), 'ckpt.diverged');
  await mkdir(dir);
  await writeFile(path.join(dir, 'metrics.json'), '{"mine": true}');
  await writeFile(path.join(dir, 'config.json'), '{"mine": true}');
  const run = {
    runId: 'r2',
    config: parseTrainConfig({ data: { kind: 'iris' }, layers: [] }),
    result: { backend: 'cpu', epochs: [], test: {}, preprocessing: {} } as unknown as TrainResult,
    error: 'diverged',
  };
  assert.match(await keepDivergedRun(dir, run), /were not kept: .*ckpt\.diverged holds other files/);
  assert.deepEqual((await readdir(dir)).sort(), ['config.json', 'metrics.json']);
  assert.equal(await readFile(path.join(dir, 'metrics.json'), 'utf8'), '{"mine": true}');

  // An earlier diverged run's folder (its diverged.json says so) is written into.
  const note = { runId: 'r1', error: 'diverged', note: 'a diverged run: metrics and plot only, no model (not a checkpoint)' };
  await writeFile(path.join(dir, 'diverged.json'), JSON.stringify(note));
  await keepDivergedRun(dir, run);
  assert.equal(JSON.parse(await readFile(path.join(dir, 'diverged.json'), 'utf8')).runId, 'r2');
  assert.equal(JSON.parse(await readFile(path.join(dir, 'metrics.json'), 'utf8')).runId, 'r2');
});
