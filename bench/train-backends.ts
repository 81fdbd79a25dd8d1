// Training and prediction throughput of a dense BN network on each available tfjs backend,
// measured in one process so the ratios compare like with like.
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/train/backend.ts';
import { buildModel } from '../src/train/model.ts';
import { parseTrainConfig } from '../src/train/config.ts';
import { syntheticClassification } from '../src/train/data-synthetic.ts';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 8000);
const FEATURES = 64;
const CLASSES = 10;
const BATCH = 128;

const config = parseTrainConfig({
  data: { kind: 'synthetic' },
  layers: [
    { type: 'dense', units: 256 },
    { type: 'batchNormalization' },
    { type: 'activation', activation: 'relu' },
    { type: 'dense', units: 256 },
    { type: 'batchNormalization' },
    { type: 'activation', activation: 'relu' },
  ],
});

async function measure(backend: 'wasm' | 'cpu' | 'tensorflow') {
  const used = await initBackend(backend);
  if (used !== backend) return null;
  const data = syntheticClassification({ samples: SAMPLES, features: FEATURES, classes: CLASSES, noise: 1, scale: 1, offset: 0, seed: 1 });
  const model = buildModel(config.layers, { inputShape: [FEATURES], task: 'classification', outputUnits: CLASSES, seed: 1 });
  model.compile({ optimizer: tf.train.adam(0.001), loss: 'categoricalCrossentropy' });
  const x = tf.tensor2d(data.x, [SAMPLES, FEATURES]);
  const y = tf.oneHot(tf.tensor1d(data.y, 'int32'), CLASSES).toFloat();
  await model.fit(x.slice(0, BATCH * 2), y.slice(0, BATCH * 2), { epochs: 1, batchSize: BATCH, verbose: 0 }); // warm-up
  let started = performance.now();
  await model.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
  const trainRate = SAMPLES / ((performance.now() - started) / 1000);
  started = performance.now();
  (model.predict(x, { batchSize: 1024 }) as tf.Tensor).dataSync();
  const predictRate = SAMPLES / ((performance.now() - started) / 1000);
  tf.dispose([x, y]);
  model.dispose();
  return { backend, trainRate, predictRate };
}

export async function benchTrainBackends(): Promise<void> {
  console.log(`\n## tfjs backends: ${SAMPLES}×${FEATURES} → 256-BN-relu-256-BN-relu → ${CLASSES}, batch ${BATCH}, Adam, one epoch`);
  const results = [];
  for (const backend of ['tensorflow', 'wasm', 'cpu'] as const) {
    const r = await measure(backend);
    if (r) results.push(r);
    else console.log(`${backend}: not available here`);
  }
  const cpu = results.find((r) => r.backend === 'cpu');
  for (const r of results) {
    const ratio = cpu ? `  (${(r.trainRate / cpu.trainRate).toFixed(2)}× cpu training)` : '';
    console.log(
      `${r.backend.padEnd(10)} train ${Math.round(r.trainRate)} samples/s  predict ${Math.round(r.predictRate)} samples/s${ratio}`,
    );
  }
}
