// A real SQLite registry holding really trained runs (tfjs → checkpoint → ONNX → registry), a
// diverged one among them, and, on request, synthetic runs that fill the Runs table.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runTrainCommand, TrainingError } from '../../src/commands/train.ts';
import { openRegistry } from '../../src/registry/index.ts';
import type { Registry } from '../../src/registry/types.ts';

export interface TrainedRegistry {
  registry: Registry;
  runs: {
    iris: string;
    adalineStd: string;
    adalineStdSecond: string;
    adalineSlow: string;
    diverged: string;
    /** One epoch of one full batch: one BN update step, so the guard flags it (and its version). */
    stale: string;
  };
}

async function train(registry: Registry, dir: string, config: string, extra: { name?: string; seed?: number; export?: boolean } = {}) {
  const out = path.join(dir, `${path.basename(config, '.json')}-${extra.seed ?? 0}`);
  return runTrainCommand({ config, out, export: extra.export ?? true, quiet: true, name: extra.name, seed: extra.seed }, registry);
}

export async function trainedRegistry(dir: string): Promise<TrainedRegistry> {
  const registry = await openRegistry({ databaseUrl: `file:${path.join(dir, 'registry.db')}`, artifactsDir: path.join(dir, 'artifacts') });
  const irisRun = await train(registry, dir, 'examples/iris-bn.json');
  const adalineStd = await train(registry, dir, 'examples/seed/adaline-std-lr0.01.json');
  const adalineStdSecond = await train(registry, dir, 'examples/seed/adaline-std-lr0.01.json', { seed: 7 });
  const adalineSlow = await train(registry, dir, 'examples/seed/adaline-raw-lr0.0001.json', { export: false });
  const staleConfig = path.join(dir, 'iris-stale.json');
  const iris = JSON.parse(await readFile('examples/iris-bn.json', 'utf8'));
  await writeFile(staleConfig, JSON.stringify({ ...iris, name: 'iris-stale', epochs: 1, batchSize: 'full' }));
  const stale = await train(registry, dir, staleConfig);
  if (!stale.model || stale.warnings.length === 0) throw new Error('the one-step BN run was expected to be flagged and registered');
  let diverged: string | undefined;
  try {
    await train(registry, dir, 'examples/seed/adaline-raw-lr0.01.json', { export: false });
  } catch (error) {
    if (!(error instanceof TrainingError)) throw error;
    diverged = (await registry.listRuns({ name: 'adaline-raw-lr0.01', status: 'failed' }))[0]?.id;
  }
  if (!diverged) throw new Error('the tutorial run with η = 0.01 on raw features was expected to diverge');
  return {
    registry,
    runs: {
      iris: irisRun.runId,
      stale: stale.runId,
      adalineStd: adalineStd.runId,
      adalineStdSecond: adalineStdSecond.runId,
      adalineSlow: adalineSlow.runId,
      diverged,
    },
  };
}

/** Recorded runs (no training) so that the Runs table holds `count` rows in all. */
export async function fillRuns(registry: Registry, count: number): Promise<void> {
  const existing = (await registry.listRuns()).length;
  for (let i = existing; i < count; i++) {
    const run = await registry.startRun({
      name: `sweep-${i % 7}`,
      config: { optimizer: { learningRate: 0.001 * (i + 1) }, layers: [] },
      backend: 'cpu',
      seed: i,
    });
    for (let epoch = 0; epoch < 5; epoch++) {
      await registry.recordEpoch(run.id, {
        epoch,
        loss: 1 / (epoch + 1 + i),
        dataLoss: 1 / (epoch + 1 + i),
        regularizationLoss: 0,
        metrics: { accuracy: 0.5 + epoch / 10 },
      });
    }
    await registry.finishRun(run.id, { status: i % 11 === 0 ? 'failed' : 'succeeded', ...(i % 11 === 0 ? { error: 'abandoned' } : {}) });
  }
}
