// Training throughput per tfjs backend on two dense BN nets and the CNN example, with tfjs's own
// wasm kernels ("before") and bnserve's fast ones ("after") switched in the same process, cpu,
// tfjs-node where it installs, and PyTorch CPU beside them when Python can import torch. Every
// variant is measured in each repeat (interleaved) and the table shows medians and ratios from this
// one run. Environment: BENCH_REPEATS (3), BENCH_SECONDS per measurement (1.5), BENCH_PYTHON (python3;
// torch is found through PYTHONPATH, e.g. PYTHONPATH=/work/.torch).
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/train/backend.ts';
import type { LayerSpec } from '../src/train/config.ts';
import { loadTrainConfig, parseTrainConfig } from '../src/train/config.ts';
import { syntheticClassification } from '../src/train/data-synthetic.ts';
import { buildModel, hasConv } from '../src/train/model.ts';
import { formatProfile, profileTrainingStep } from './train-profile.ts';
import { median } from './median.ts';

const REPEATS = Number(process.env.BENCH_REPEATS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
const PYTHON = process.env.BENCH_PYTHON ?? 'python3';
const here = path.dirname(fileURLToPath(import.meta.url));

interface Net {
  name: string;
  layers: LayerSpec[];
  inputShape: number[];
  classes: number;
  batch: number;
  learningRate: number;
  /** The same network for bench/torch-train.py. */
  torch: Record<string, unknown>;
}

type Variant = 'wasm before' | 'wasm after' | 'cpu' | 'tensorflow';
const variants: Variant[] = ['wasm before', 'wasm after', 'cpu', 'tensorflow'];

function denseLayers(units: number): LayerSpec[] {
  return parseTrainConfig({
    data: { kind: 'synthetic' },
    layers: [
      { type: 'dense', units },
      { type: 'batchNormalization' },
      { type: 'activation', activation: 'relu' },
      { type: 'dense', units },
      { type: 'batchNormalization' },
      { type: 'activation', activation: 'relu' },
    ],
  }).layers;
}

async function nets(): Promise<Net[]> {
  const cnn = await loadTrainConfig(path.join(here, '../examples/cnn-bn.json'));
  const image = cnn.data.kind === 'synthetic' ? cnn.data.image : undefined;
  if (!image) throw new Error('examples/cnn-bn.json no longer describes synthetic images');
  const classes = cnn.data.kind === 'synthetic' ? cnn.data.classes : 3;
  return [
    {
      name: '784-1024-BN-1024-BN-10, batch 64',
      layers: denseLayers(1024),
      inputShape: [784],
      classes: 10,
      batch: 64,
      learningRate: 0.001,
      torch: { kind: 'mlp', features: 784, hidden: [1024, 1024], classes: 10 },
    },
    {
      name: '64-256-BN-256-BN-10, batch 128',
      layers: denseLayers(256),
      inputShape: [64],
      classes: 10,
      batch: 128,
      learningRate: 0.001,
      torch: { kind: 'mlp', features: 64, hidden: [256, 256], classes: 10 },
    },
    {
      name: `examples/cnn-bn.json, batch ${cnn.batchSize}`,
      layers: cnn.layers,
      inputShape: [image.height, image.width, image.channels],
      classes,
      batch: cnn.batchSize === 'full' ? 1 : cnn.batchSize,
      learningRate: cnn.optimizer.learningRate,
      torch: { kind: 'cnn', channels: image.channels, height: image.height, width: image.width, classes },
    },
  ];
}

/** Selects the variant's backend and kernels; null when this machine or this net cannot run it. */
async function select(variant: Variant, net: Net): Promise<string | null> {
  const wanted = variant.startsWith('wasm') ? 'wasm' : variant;
  process.env.BNSERVE_WASM_KERNELS = variant === 'wasm before' ? 'original' : 'fast';
  const used = await initBackend(wanted as 'wasm' | 'cpu' | 'tensorflow', hasConv(net.layers));
  return used === wanted ? used : null;
}

function trainingData(net: Net, samples: number) {
  const pool = 1024;
  const image =
    net.inputShape.length === 3 ? { height: net.inputShape[0], width: net.inputShape[1], channels: net.inputShape[2] } : undefined;
  const data = syntheticClassification({
    samples: pool,
    features: net.inputShape[0],
    classes: net.classes,
    image,
    noise: 1,
    scale: 1,
    offset: 0,
    seed: 1,
  });
  return tf.tidy(() => {
    const x = tf.tensor(data.x, [pool, ...net.inputShape]);
    const y = tf.oneHot(tf.tensor1d(data.y, 'int32'), net.classes).toFloat();
    const copies = Math.ceil(samples / pool);
    const reps = (t: tf.Tensor) => [copies, ...t.shape.slice(1).map(() => 1)];
    return { x: tf.tile(x, reps(x)).slice(0, samples), y: tf.tile(y, reps(y)).slice(0, samples) };
  });
}

function compiledModel(net: Net): tf.LayersModel {
  const model = buildModel(net.layers, { inputShape: net.inputShape, task: 'classification', outputUnits: net.classes, seed: 1 });
  model.compile({ optimizer: tf.train.adam(net.learningRate), loss: 'categoricalCrossentropy' });
  return model;
}

interface Rate {
  /** samples per wall-clock second */
  wall: number;
  /** samples per second of this process's CPU time: steadier than wall time on a shared machine */
  cpu: number;
}

/** Throughput of model.fit (as `bnserve train` runs it) for about SECONDS. */
async function measure(net: Net): Promise<Rate> {
  const model = compiledModel(net);
  const warm = trainingData(net, net.batch);
  await model.fit(warm.x, warm.y, { epochs: 1, batchSize: net.batch, shuffle: false, verbose: 0 }); // first-call costs
  let started = performance.now();
  await model.fit(warm.x, warm.y, { epochs: 1, batchSize: net.batch, shuffle: false, verbose: 0 });
  const stepSeconds = (performance.now() - started) / 1000;
  tf.dispose([warm.x, warm.y]);
  const steps = Math.min(400, Math.max(2, Math.round(SECONDS / stepSeconds)));
  const data = trainingData(net, steps * net.batch);
  started = performance.now();
  const cpu = process.cpuUsage();
  await model.fit(data.x, data.y, { epochs: 1, batchSize: net.batch, shuffle: false, verbose: 0 });
  const used = process.cpuUsage(cpu);
  const samples = steps * net.batch;
  const rate = { wall: samples / ((performance.now() - started) / 1000), cpu: samples / ((used.user + used.system) / 1e6) };
  tf.dispose([data.x, data.y]);
  model.dispose();
  return rate;
}

let torchMissing: string | null = null;

function torchRates(net: Net): Record<string, Rate> | null {
  if (torchMissing) return null;
  const spec = { ...net.torch, batch: net.batch, learningRate: net.learningRate, threads: [1, 2], seconds: SECONDS };
  const run = spawnSync(PYTHON, [path.join(here, 'torch-train.py'), JSON.stringify(spec)], { encoding: 'utf8', timeout: 300_000 });
  if (run.status !== 0) {
    const why = run.error?.message ?? run.stderr.trim().split('\n').at(-1) ?? `exit ${run.status}`;
    torchMissing = `${PYTHON} could not run bench/torch-train.py (${why}); install torch (pip install --target DIR torch) and set PYTHONPATH=DIR`;
    return null;
  }
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as { samplesPerSecond: Record<string, Rate> };
  return Object.fromEntries(
    Object.entries(out.samplesPerSecond).map(([threads, rate]) => [`torch CPU ${threads} thread${threads === '1' ? '' : 's'}`, rate]),
  );
}

/** The threaded wasm build, tried in a child process (a failed init leaves tfjs's wasm backend unusable). */
function probeThreadedWasm(): string {
  const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'wasm-threads-probe.ts')], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  const line = run.stdout.trim().split('\n').at(-1) ?? '';
  const cause = /^\w*Error\b.*$/m.exec(run.stderr)?.[0];
  if (line.length === 0) return `probe failed: exit ${run.status} ${cause ?? ''}`;
  return cause ? `${line} (${cause})` : line;
}

async function profileBigNet(net: Net): Promise<void> {
  for (const variant of ['wasm after', 'wasm before'] as const) {
    if (!(await select(variant, net))) continue;
    const model = compiledModel(net);
    const data = trainingData(net, net.batch);
    const profile = await profileTrainingStep(model, data.x, data.y, variant === 'wasm before' ? 1 : 5);
    console.log(formatProfile(`${variant} kernels, one step of ${net.name}`, profile));
    tf.dispose([data.x, data.y]);
    model.dispose();
  }
}

export async function benchTrainBackends(): Promise<void> {
  const saved = process.env.BNSERVE_WASM_KERNELS;
  const all = await nets();
  console.log(`\n## Training throughput (samples/s, Adam, model.fit): medians of ${REPEATS} interleaved repeats of ~${SECONDS} s each`);
  const results = new Map<string, Map<string, Rate[]>>();
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const net of all) {
      const rows = results.get(net.name) ?? new Map<string, Rate[]>();
      results.set(net.name, rows);
      for (const variant of variants) {
        if (!(await select(variant, net))) continue;
        const list = rows.get(variant) ?? [];
        list.push(await measure(net));
        rows.set(variant, list);
      }
      for (const [row, rate] of Object.entries(torchRates(net) ?? {})) rows.set(row, [...(rows.get(row) ?? []), rate]);
    }
  }
  if (saved === undefined) delete process.env.BNSERVE_WASM_KERNELS;
  else process.env.BNSERVE_WASM_KERNELS = saved;

  const header = `${'network'.padEnd(32)} ${'variant'.padEnd(19)} ${'samples/s'.padStart(9)} ${'runs'.padEnd(17)} ${'/CPU-s'.padStart(7)} ${'× before'.padStart(8)} ${'(CPU)'.padStart(6)} ${'× torch'.padStart(7)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const net of all) {
    const rows = results.get(net.name) ?? new Map<string, Rate[]>();
    const wall = (runs: Rate[]) => median(runs.map((r) => r.wall));
    const cpu = (runs: Rate[]) => median(runs.map((r) => r.cpu));
    const before = rows.get('wasm before');
    const torch = [...rows].filter(([row]) => row.startsWith('torch')).map(([, runs]) => wall(runs));
    const bestTorch = torch.length > 0 ? Math.max(...torch) : null;
    for (const [row, runs] of rows) {
      const tfjs = !row.startsWith('torch');
      const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
      const cells = [
        net.name.padEnd(32),
        row.padEnd(19),
        wall(runs).toFixed(0).padStart(9),
        runs
          .map((r) => r.wall.toFixed(0))
          .join(' ')
          .padEnd(17),
        cpu(runs).toFixed(0).padStart(7),
        (before && tfjs ? ratio(wall(runs), wall(before)) : '').padStart(8),
        (before && tfjs ? ratio(cpu(runs), cpu(before)) : '').padStart(6),
        (bestTorch && tfjs ? ratio(wall(runs), bestTorch) : '').padStart(7),
      ];
      console.log(cells.join(' '));
    }
    for (const variant of variants) {
      if (!rows.has(variant)) {
        const why =
          variant === 'tensorflow'
            ? 'tfjs-node is not installed here'
            : variant === 'wasm before'
              ? "tfjs's wasm kernels cannot train conv nets (no Conv2DBackpropFilter)"
              : 'backend unavailable';
        console.log(`${net.name.padEnd(32)} ${variant.padEnd(19)} ${'skipped'.padStart(9)} ${why}`);
      }
    }
    if (torchMissing) console.log(`${net.name.padEnd(32)} ${'torch CPU'.padEnd(19)} ${'skipped'.padStart(9)} ${torchMissing}`);
  }
  console.log('(samples/s: wall clock, median; runs: each repeat; /CPU-s: samples per CPU-second of the process, all its threads;');
  console.log(' × before: vs tfjs wasm kernels in this run, wall and CPU; × torch: vs the faster PyTorch row in this run)');
  console.log(`\nthreaded wasm build: ${probeThreadedWasm()}`);
  console.log(`backend picked by initBackend('auto'): dense ${await initBackend('auto', false)}, conv ${await initBackend('auto', true)}`);
  console.log('\n## Per-kernel profile (tf.profile, ms per step)');
  await profileBigNet(all[0]);
  if (saved === undefined) delete process.env.BNSERVE_WASM_KERNELS;
  else process.env.BNSERVE_WASM_KERNELS = saved;
  await initBackend('auto');
}
