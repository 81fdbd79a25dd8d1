// The parity gate's measurement: the exported ONNX (onnxruntime, CPU) against the checkpoint run by
// tfjs in inference mode, on given rows plus random rows drawn around the training statistics.
// The only module of src/export that loads tfjs.
import * as tf from '@tensorflow/tfjs';
import { loadCheckpointModel } from '../train/tfjs-checkpoint.ts';
import { createRng, normal } from '../train/rng.ts';
import { applyStandardization } from '../train/standardize.ts';
import { predictFlat } from '../train/trainer.ts';
import type { Preprocessing } from '../checkpoint/index.ts';
import { ExportError } from './errors.ts';
import { runOnnx } from './ort-runner.ts';

export interface ParityOptions {
  onnx: Uint8Array;
  checkpointDir: string;
  preprocessing: Preprocessing;
  inputShape: number[];
  names: { input: string; output: string };
  rows?: number[][] | Float32Array;
  randomRows?: number;
  seed?: number;
}

export interface ParityResult {
  maxAbsDiff: number;
  /** The largest |onnx − tfjs| / max(1, |tfjs|): what regression outputs are gated on. */
  maxScaledDiff: number;
  rows: number;
}

export async function measureParity(options: ParityOptions): Promise<ParityResult> {
  const sampleSize = options.inputShape.reduce((a, b) => a * b, 1);
  const given = flattenRows(options.rows, sampleSize);
  const random = randomRows(options.randomRows ?? 32, sampleSize, options.preprocessing, options.seed ?? 1);
  const x = new Float32Array(given.length + random.length);
  x.set(given);
  x.set(random, given.length);
  const n = x.length / sampleSize;
  if (n === 0) throw new ExportError('parity needs at least one row');

  const onnxOut = await runOnnx(options.onnx, x, [n, ...options.inputShape], options.names);
  const reference = await tfjsReference(options.checkpointDir, x, options.inputShape, options.preprocessing);
  if (onnxOut.length !== reference.length) {
    throw new ExportError(`parity: ONNX gave ${onnxOut.length} outputs, tfjs ${reference.length}`);
  }
  const nonFinite = reference.findIndex((v) => !Number.isFinite(v));
  if (nonFinite >= 0) {
    throw new ExportError(
      `the trained model outputs non-finite values (${reference[nonFinite]} on row ${Math.floor(nonFinite / (reference.length / n))}); ` +
        'it diverged or its weights are broken, so it is not exported',
    );
  }
  let maxAbsDiff = 0;
  let maxScaledDiff = 0;
  for (let i = 0; i < reference.length; i++) {
    // NaN on either side (but not both) counts as an infinite difference.
    const diff = Object.is(onnxOut[i], reference[i]) ? 0 : Math.abs(onnxOut[i] - reference[i]);
    const d = Number.isNaN(diff) ? Infinity : diff;
    maxAbsDiff = Math.max(maxAbsDiff, d);
    maxScaledDiff = Math.max(maxScaledDiff, d / Math.max(1, Math.abs(reference[i])));
  }
  return { maxAbsDiff, maxScaledDiff, rows: n };
}

async function tfjsReference(dir: string, x: Float32Array, inputShape: number[], p: Preprocessing): Promise<Float32Array> {
  await tf.ready();
  const model = await loadCheckpointModel(dir);
  try {
    return predictFlat(model, applyStandardization(x, p), inputShape);
  } finally {
    model.dispose();
  }
}

export function flattenRows(rows: number[][] | Float32Array | undefined, sampleSize: number): Float32Array {
  if (!rows) return new Float32Array(0);
  if (rows instanceof Float32Array) {
    if (rows.length % sampleSize !== 0) throw new ExportError(`parity rows: ${rows.length} values is not a multiple of ${sampleSize}`);
    return rows;
  }
  const out = new Float32Array(rows.length * sampleSize);
  rows.forEach((row, i) => {
    if (row.length !== sampleSize) throw new ExportError(`parity row ${i} has ${row.length} values, expected ${sampleSize}`);
    out.set(row, i * sampleSize);
  });
  return out;
}

/** Raw-feature rows ~ N(mean, std²) per feature/channel, deterministic for a seed. */
export function randomRows(count: number, sampleSize: number, p: Preprocessing, seed: number): Float32Array {
  const rng = createRng(seed);
  const channels = p.mean.length;
  const out = new Float32Array(count * sampleSize);
  for (let i = 0; i < out.length; i++) out[i] = p.mean[i % channels] + p.std[i % channels] * normal(rng);
  return out;
}
