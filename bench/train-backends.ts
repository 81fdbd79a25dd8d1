// Training throughput on two dense BN nets and the CNN example: tfjs with its own wasm kernels
// ("before") and bnserve's fast ones ("after") switched in the same process, cpu, tfjs-node where it
// installs, bnserve's onnxruntime training step (src/train/ort) at its default threads (with and
// without spin-waiting threads) and at one thread, and PyTorch CPU beside them (at its default threads and at one) when Python can import
// torch. Every variant is measured in each repeat (interleaved) and the table shows medians and
// ratios from this one run, with the achieved GFLOP/s of the matrix products.
// The ratios are only printed when the machine was idle at the start (1-min load average <= 0.5);
// BENCH_ALLOW_LOAD=1 prints them anyway, marked UNRELIABLE. Environment: BENCH_REPEATS (3),
// BENCH_SECONDS per measurement (1.5), BENCH_PYTHON (python3; torch is found through PYTHONPATH).
import { MAX_LOAD, waitForQuietMachine } from './quiet.ts';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/train/backend.ts';
import type { LayerSpec } from '../src/train/config.ts';
import { loadTrainConfig, parseTrainConfig } from '../src/train/config.ts';
import { syntheticClassification } from '../src/train/data-synthetic.ts';
import { buildModel, hasConv } from '../src/train/model.ts';
import { chooseTrainEngine } from '../src/train/ort/engine-choice.ts';
import { ortUnsupportedReason } from '../src/train/ort/support.ts';
import { formatProfile, profileTrainingStep } from './train-profile.ts';
import { trainingFlopsPerSample } from './train-flops.ts';
import { measureOrt, ortStepSplit } from './train-ort.ts';
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

type TfjsVariant = 'wasm before' | 'wasm after' | 'cpu' | 'tensorflow';
const tfjsVariants: TfjsVariant[] = ['wasm before', 'wasm after', 'cpu', 'tensorflow'];
const ORT = 'onnxruntime (bnserve)';
const ORT_NO_SPIN = 'onnxruntime no spin';
const ORT_ONE = 'onnxruntime 1 thread';
const ortVariants = [ORT, ORT_NO_SPIN, ORT_ONE];
const TORCH_DEFAULT = 'torch CPU default';
const TORCH_ONE = 'torch CPU 1 thread';
/** Rows measured at one thread are compared with PyTorch at one thread, the others with its default. */
const oneThread = (row: string) => row === ORT_ONE || row === TORCH_ONE;

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
async function select(variant: TfjsVariant, net: Net): Promise<string | null> {
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
let torchDefaultThreads = 0;

function ortNet(net: Net) {
  return { layers: net.layers, inputShape: net.inputShape, classes: net.classes, batch: net.batch, learningRate: net.learningRate };
}

function ortUnsupported(net: Net): string | null {
  return ortUnsupportedReason({
    layers: net.layers,
    inputShape: net.inputShape,
    task: 'classification',
    optimizer: { type: 'adam', learningRate: net.learningRate, momentum: 0.9 },
    regularized: false,
  });
}

function torchRates(net: Net): Record<string, Rate> | null {
  if (torchMissing) return null;
  const spec = { ...net.torch, batch: net.batch, learningRate: net.learningRate, threads: ['default', 1], seconds: SECONDS };
  const run = spawnSync(PYTHON, [path.join(here, 'torch-train.py'), JSON.stringify(spec)], { encoding: 'utf8', timeout: 300_000 });
  if (run.status !== 0) {
    const why = run.error?.message ?? run.stderr.trim().split('\n').at(-1) ?? `exit ${run.status}`;
    torchMissing = `${PYTHON} could not run bench/torch-train.py (${why}); install torch (pip install --target DIR torch) and set PYTHONPATH=DIR`;
    return null;
  }
  const out = JSON.parse(run.stdout.trim().split('\n').at(-1) ?? '{}') as {
    defaultThreads: number;
    samplesPerSecond: Record<string, Rate>;
  };
  torchDefaultThreads = out.defaultThreads;
  return Object.fromEntries(
    Object.entries(out.samplesPerSecond).map(([threads, rate]) => [threads === '1' ? TORCH_ONE : TORCH_DEFAULT, rate]),
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

function loadLine(): string {
  return os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/** Whether to print ratios, and the mark they carry. */
function ratioPolicy(load: number): { show: boolean; mark: string } {
  if (load <= MAX_LOAD) return { show: true, mark: '' };
  if (process.env.BENCH_ALLOW_LOAD === '1') return { show: true, mark: ` UNRELIABLE: load ${load.toFixed(2)}` };
  return { show: false, mark: '' };
}

async function measureRepeat(net: Net, rows: Map<string, Rate[]>): Promise<void> {
  const add = (row: string, rate: Rate) => rows.set(row, [...(rows.get(row) ?? []), rate]);
  for (const variant of tfjsVariants) {
    if (await select(variant, net)) add(variant, await measure(net));
  }
  if (!ortUnsupported(net)) {
    add(ORT, await measureOrt(ortNet(net), os.availableParallelism(), SECONDS));
    add(ORT_NO_SPIN, await measureOrt(ortNet(net), os.availableParallelism(), SECONDS, false));
    add(ORT_ONE, await measureOrt(ortNet(net), 1, SECONDS));
  }
  for (const [row, rate] of Object.entries(torchRates(net) ?? {})) add(row, rate);
}

function skippedRows(net: Net, rows: Map<string, Rate[]>): string[] {
  const lines: string[] = [];
  const skip = (row: string, why: string) => lines.push(`${net.name.padEnd(32)} ${row.padEnd(21)} ${'skipped'.padStart(9)} ${why}`);
  for (const variant of tfjsVariants) {
    if (rows.has(variant)) continue;
    skip(
      variant,
      variant === 'tensorflow'
        ? 'tfjs-node is not installed here'
        : variant === 'wasm before'
          ? "tfjs's wasm kernels cannot train conv nets (no Conv2DBackpropFilter)"
          : 'backend unavailable',
    );
  }
  const unsupported = ortUnsupported(net);
  if (unsupported) for (const row of ortVariants) skip(row, unsupported);
  if (torchMissing) skip('torch CPU', torchMissing);
  return lines;
}

function printTable(all: Net[], results: Map<string, Map<string, Rate[]>>, ratios: { show: boolean; mark: string }): void {
  const header = `${'network'.padEnd(32)} ${'variant'.padEnd(21)} ${'samples/s'.padStart(9)} ${'runs'.padEnd(17)} ${'/CPU-s'.padStart(7)} ${'GFLOP/s'.padStart(7)} ${'× before'.padStart(8)} ${'(CPU)'.padStart(6)} ${'× torch'.padStart(7)}`;
  console.log(header);
  console.log('-'.repeat(header.length));
  for (const net of all) {
    const rows = results.get(net.name) ?? new Map<string, Rate[]>();
    const wall = (runs: Rate[]) => median(runs.map((r) => r.wall));
    const cpu = (runs: Rate[]) => median(runs.map((r) => r.cpu));
    const before = rows.get('wasm before');
    const torchDefault = rows.get(TORCH_DEFAULT);
    const torchOne = rows.get(TORCH_ONE);
    const flops = trainingFlopsPerSample(net.layers, net.inputShape, net.classes);
    for (const [row, runs] of rows) {
      const ours = !row.startsWith('torch');
      const torch = oneThread(row) ? torchOne : torchDefault;
      const ratio = (a: number, b: number) => (ratios.show ? `${(a / b).toFixed(2)}×` : '—');
      const label = row === TORCH_DEFAULT ? `torch CPU ${torchDefaultThreads} threads` : row;
      const cells = [
        net.name.padEnd(32),
        label.padEnd(21),
        wall(runs).toFixed(0).padStart(9),
        runs
          .map((r) => r.wall.toFixed(0))
          .join(' ')
          .padEnd(17),
        cpu(runs).toFixed(0).padStart(7),
        ((wall(runs) * flops) / 1e9).toFixed(1).padStart(7),
        (before && ours ? ratio(wall(runs), wall(before)) : '').padStart(8),
        (before && ours ? ratio(cpu(runs), cpu(before)) : '').padStart(6),
        (torch && ours ? ratio(wall(runs), wall(torch)) : '').padStart(7),
      ];
      console.log(cells.join(' '));
    }
    for (const line of skippedRows(net, rows)) console.log(line);
  }
  console.log('(samples/s: wall clock, median; runs: each repeat; /CPU-s: samples per CPU-second of the process, all its threads;');
  console.log(' GFLOP/s: forward + backward matrix-product FLOPs per sample (dense, conv) × samples/s;');
  console.log(' × before: vs tfjs wasm kernels in this run, wall and CPU; × torch: vs PyTorch in this run at its default threads,');
  console.log(' or at one thread for the one-thread rows)');
}

export async function benchTrainBackends(): Promise<void> {
  const saved = process.env.BNSERVE_WASM_KERNELS;
  const all = await nets();
  const startLoad = await waitForQuietMachine();
  const ratios = ratioPolicy(startLoad);
  console.log(`\n## Training throughput (samples/s, Adam): medians of ${REPEATS} interleaved repeats of ~${SECONDS} s each`);
  console.log(`load average at start: ${loadLine()} (1, 5, 15 min; ${os.availableParallelism()} cores)`);
  if (!ratios.show) {
    console.log(
      `ratios withheld: the 1-min load ${startLoad.toFixed(2)} is above ${MAX_LOAD}, other work shares the cores; ` +
        'rerun on an idle machine, or set BENCH_ALLOW_LOAD=1 to print them marked UNRELIABLE',
    );
  } else if (ratios.mark) {
    console.log(`ratios printed on a busy machine:${ratios.mark}`);
  }
  const results = new Map<string, Map<string, Rate[]>>();
  for (let repeat = 0; repeat < REPEATS; repeat++) {
    for (const net of all) {
      const rows = results.get(net.name) ?? new Map<string, Rate[]>();
      results.set(net.name, rows);
      await measureRepeat(net, rows);
    }
  }
  if (saved === undefined) delete process.env.BNSERVE_WASM_KERNELS;
  else process.env.BNSERVE_WASM_KERNELS = saved;

  printTable(all, results, ratios);
  console.log(`load average at end: ${loadLine()}${ratios.mark ? ` (ratios${ratios.mark})` : ''}`);
  console.log(`\nthreaded wasm build: ${probeThreadedWasm()}`);
  console.log(`backend picked by initBackend('auto'): dense ${await initBackend('auto', false)}, conv ${await initBackend('auto', true)}`);
  for (const net of all) {
    const choice = chooseTrainEngine('auto', {
      layers: net.layers,
      inputShape: net.inputShape,
      task: 'classification',
      optimizer: { type: 'adam', learningRate: net.learningRate, momentum: 0.9 },
      regularized: false,
      backend: 'auto',
    });
    console.log(`training engine picked by 'auto' for ${net.name}: ${choice.engine} (${choice.reason})`);
  }
  console.log('\n## Per-kernel profile (tf.profile, ms per step)');
  await profileBigNet(all[0]);
  const split = await ortStepSplit(ortNet(all[0]), os.availableParallelism());
  console.log(
    `onnxruntime step, ${all[0].name}: ${split.stepMs.toFixed(1)} ms per step, of which Adam (wasm SIMD, in place) ` +
      `${split.adamMs.toFixed(1)} ms and the onnxruntime graph (forward, backward, BN statistics) ${(split.stepMs - split.adamMs).toFixed(1)} ms`,
  );
  if (saved === undefined) delete process.env.BNSERVE_WASM_KERNELS;
  else process.env.BNSERVE_WASM_KERNELS = saved;
  await initBackend('auto');
}
