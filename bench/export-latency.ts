// onnxruntime latency of the exported Iris-size MLP (4-64-BN-relu-3), folded vs unfolded
// (--no-fold), at batch 1 and 256, measured in one process so the ratio compares like with like.
// Run: node --import tsx bench/export-latency.ts
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { exportCheckpoint } from '../src/export/index.ts';
import { initBackend } from '../src/train/backend.ts';
import { saveCheckpoint } from '../src/train/tfjs-checkpoint.ts';
import { parseTrainConfig } from '../src/train/config.ts';
import { syntheticClassification } from '../src/train/data-synthetic.ts';
import { buildModel } from '../src/train/model.ts';
import { fitStandardization, standardizeDataset } from '../src/train/standardize.ts';
import { preprocessingFor } from '../src/train/trainer.ts';

const ROUNDS = 7;
const ITERATIONS: Record<number, number> = { 1: 2000, 256: 500 };

async function trainedIrisSizeCheckpoint(dir: string): Promise<void> {
  await initBackend('auto');
  const config = parseTrainConfig({
    data: { kind: 'synthetic' },
    layers: [{ type: 'dense', units: 64 }, { type: 'batchNormalization' }, { type: 'activation', activation: 'relu' }],
  });
  const data = syntheticClassification({ samples: 150, features: 4, classes: 3, noise: 0.7, scale: 3, offset: 5, seed: 1 });
  const s = fitStandardization(data);
  const model = buildModel(config.layers, { inputShape: [4], task: 'classification', outputUnits: 3, seed: 1 });
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'categoricalCrossentropy' });
  const x = tf.tensor2d(standardizeDataset(data, s).x, [150, 4]);
  const y = tf.oneHot(tf.tensor1d(Array.from(data.y), 'int32'), 3);
  await model.fit(x, y, { epochs: 5, batchSize: 16, verbose: 0 });
  await saveCheckpoint(dir, { model, preprocessing: preprocessingFor(data, 'classification', s), config, metrics: {} });
  tf.dispose([x, y]);
  model.dispose();
}

/** Mean µs per run over `iterations` runs. */
async function timeRuns(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>, iterations: number): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await session.run(feeds);
  return Number(process.hrtime.bigint() - start) / 1000 / iterations;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function benchExportLatency(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-bench-export-'));
  try {
    await trainedIrisSizeCheckpoint(dir);
    const variants = await Promise.all(
      [true, false].map(async (fold) => {
        const exported = await exportCheckpoint({ checkpointDir: dir, fold });
        const session = await ort.InferenceSession.create(exported.onnx, { executionProviders: ['cpu'], intraOpNumThreads: 1 });
        return { name: fold ? 'folded' : 'unfolded', session };
      }),
    );
    console.log(`export latency: 4-64-BN-relu-3 MLP, onnxruntime-node CPU, 1 intra-op thread, median of ${ROUNDS} rounds`);
    for (const batch of [1, 256]) {
      const input = Float32Array.from({ length: batch * 4 }, (_, i) => 5 + Math.sin(i));
      const feeds = { input: new ort.Tensor('float32', input, [batch, 4]) };
      const rounds: Record<string, number[]> = { folded: [], unfolded: [] };
      for (const v of variants) await timeRuns(v.session, feeds, ITERATIONS[batch] / 4); // warm-up
      for (let r = 0; r < ROUNDS; r++) {
        for (const v of variants) rounds[v.name].push(await timeRuns(v.session, feeds, ITERATIONS[batch]));
      }
      const folded = median(rounds.folded);
      const unfolded = median(rounds.unfolded);
      console.log(
        `  batch ${String(batch).padStart(3)}: folded ${folded.toFixed(1)} µs, unfolded ${unfolded.toFixed(1)} µs, ` +
          `unfolded/folded ${(unfolded / folded).toFixed(2)}×`,
      );
    }
    await Promise.all(variants.map((v) => v.session.release()));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await benchExportLatency();
}
