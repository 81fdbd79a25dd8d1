// rows/s and artifact size per precision (fp32, int8, fp16) in onnxruntime-node on the CPU, batch 64, on the
// 784-1024-1024-10 MLP and the Iris net (4-16-16-3, as examples/iris-bn.json after folding). Weights are
// drawn (speed and size do not depend on their values); the precisions are timed in interleaved rounds
// so that load changes hit both alike, and the median round is reported.
//   node --import tsx bench/precision.ts [--rounds 7] [--seconds 0.5] [--threads N]
import os from 'node:os';
import * as ort from 'onnxruntime-node';
import { decodeModel, encodeModel } from '../src/export/onnx/helpers.ts';
import { convertFp16 } from '../src/export/quantize/fp16.ts';
import { quantizeInt8 } from '../src/export/quantize/int8.ts';
import { mlp } from '../test/export/mlp-fixture.ts';
import { median } from './median.ts';

const arg = (name: string, fallback: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const ROUNDS = arg('rounds', 7);
const SECONDS = arg('seconds', 0.5);
const THREADS = arg('threads', 0); // 0: onnxruntime's default
const BATCH = 64;

async function timeRun(session: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  const start = performance.now();
  let runs = 0;
  while (performance.now() - start < SECONDS * 1000) {
    await session.run(feeds);
    runs++;
  }
  return (runs * BATCH) / ((performance.now() - start) / 1000);
}

const rows: string[] = [];
for (const [label, sizes] of [
  ['MLP 784-1024-1024-10', [784, 1024, 1024, 10]],
  ['Iris 4-16-16-3', [4, 16, 16, 3]],
] as const) {
  const fp32 = encodeModel(mlp([...sizes], 1));
  const q = decodeModel(fp32);
  quantizeInt8(q);
  const h = decodeModel(fp32);
  convertFp16(h);
  const artifacts = { fp32, int8: encodeModel(q), fp16: encodeModel(h) };
  const x = new Float32Array(BATCH * sizes[0]).map((_, i) => ((i * 7919) % 1000) / 250 - 2);
  const feeds = { input: new ort.Tensor('float32', x, [BATCH, sizes[0]]) };
  const sessions = await Promise.all(
    Object.values(artifacts).map((bytes) =>
      ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], ...(THREADS > 0 ? { intraOpNumThreads: THREADS } : {}) }),
    ),
  );
  for (const s of sessions) for (let i = 0; i < 5; i++) await s.run(feeds);
  const samples: number[][] = sessions.map(() => []);
  for (let r = 0; r < ROUNDS; r++) for (let i = 0; i < sessions.length; i++) samples[i].push(await timeRun(sessions[i], feeds));
  const rates = samples.map(median);
  Object.keys(artifacts).forEach((precision, i) => {
    const bytes = Object.values(artifacts)[i].length;
    rows.push(
      `${label.padEnd(22)} ${precision.padEnd(5)} ${Math.round(rates[i]).toString().padStart(10)} rows/s  ` +
        `${(rates[i] / rates[0]).toFixed(2)}×  ${bytes.toString().padStart(9)} bytes  ${(bytes / artifacts.fp32.length).toFixed(2)}× size`,
    );
  });
  await Promise.all(sessions.map((s) => s.release()));
}
console.log(
  `onnxruntime-node ${ort.env.versions.common}, CPU (${os.cpus()[0]?.model}, ${os.cpus().length} cores), batch ${BATCH}, ` +
    `${ROUNDS} interleaved rounds of ${SECONDS}s, threads ${THREADS || 'default'}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
);
for (const r of rows) console.log(r);
