// Throughput of bnserve's onnxruntime training step (src/train/ort) on the bench's nets, and the
// split of one step between the onnxruntime graph and the Adam update.
import { syntheticClassification } from '../src/train/data-synthetic.ts';
import type { LayerSpec } from '../src/train/config.ts';
import { buildModel } from '../src/train/model.ts';
import { createAdamMemory } from '../src/train/ort/adam-memory.ts';
import { readModelWeights } from '../src/train/ort/tfjs-weights.ts';
import { createOrtTrainingStep, TFJS_ADAM } from '../src/train/ort/training-step.ts';

export interface OrtNet {
  layers: LayerSpec[];
  inputShape: number[];
  classes: number;
  batch: number;
  learningRate: number;
}

export interface Rate {
  /** samples per wall-clock second */
  wall: number;
  /** samples per second of this process's CPU time */
  cpu: number;
}

const POOL = 1024;

function pool(net: OrtNet): { x: Float32Array; y: Float32Array } {
  const data = syntheticClassification({
    samples: POOL,
    features: net.inputShape[0],
    classes: net.classes,
    noise: 1,
    scale: 1,
    offset: 0,
    seed: 1,
  });
  const y = new Float32Array(POOL * net.classes);
  for (let r = 0; r < POOL; r++) y[r * net.classes + data.y[r]] = 1;
  return { x: data.x, y };
}

async function createStep(net: OrtNet, threads: number, spinning = true) {
  const model = buildModel(net.layers, { inputShape: net.inputShape, task: 'classification', outputUnits: net.classes, seed: 1 });
  const initialWeights = readModelWeights(model);
  model.dispose();
  return createOrtTrainingStep({
    layers: net.layers,
    features: net.inputShape[0],
    classes: net.classes,
    learningRate: net.learningRate,
    initialWeights,
    threads,
    spinning,
  });
}

/** Steps through the pool in batches for about `seconds` after a short warm-up. */
export async function measureOrt(net: OrtNet, threads: number, seconds: number, spinning = true): Promise<Rate> {
  const step = await createStep(net, threads, spinning);
  const data = pool(net);
  const features = net.inputShape[0];
  const batches = Math.floor(POOL / net.batch);
  let i = 0;
  const one = async () => {
    const start = (i++ % batches) * net.batch;
    await step.step(data.x.subarray(start * features), data.y.subarray(start * net.classes), net.batch);
  };
  for (let w = 0; w < 3; w++) await one();
  const started = performance.now();
  const cpu = process.cpuUsage();
  let done = 0;
  while (performance.now() - started < seconds * 1000) {
    await one();
    done++;
  }
  const used = process.cpuUsage(cpu);
  await step.dispose();
  const samples = done * net.batch;
  return { wall: samples / ((performance.now() - started) / 1000), cpu: samples / ((used.user + used.system) / 1e6) };
}

/** ms per step of the whole onnxruntime step and of its Adam update alone (same weight sizes). */
export async function ortStepSplit(net: OrtNet, threads: number, steps = 20): Promise<{ stepMs: number; adamMs: number }> {
  const step = await createStep(net, threads);
  const data = pool(net);
  for (let w = 0; w < 3; w++) await step.step(data.x, data.y, net.batch);
  let started = performance.now();
  for (let s = 0; s < steps; s++) await step.step(data.x, data.y, net.batch);
  const stepMs = (performance.now() - started) / steps;
  const sizes = [...step.readWeights()].filter(([name]) => !/moving_(mean|variance)$/.test(name)).map(([, values]) => values.length);
  await step.dispose();
  const adam = createAdamMemory(sizes, TFJS_ADAM);
  adam.update(1e-3);
  started = performance.now();
  for (let s = 0; s < steps; s++) adam.update(1e-3);
  return { stepMs, adamMs: (performance.now() - started) / steps };
}
