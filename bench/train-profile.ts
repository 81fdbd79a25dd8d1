// Per-kernel time of one training step (tf.profile), summed by kernel name, slowest first.
import * as tf from '@tensorflow/tfjs';

export interface KernelTime {
  name: string;
  ms: number;
  calls: number;
}

/** Profiles `steps` trainOnBatch calls after one warm-up step; returns per-kernel ms per step. */
export async function profileTrainingStep(
  model: tf.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  steps = 3,
): Promise<{ kernels: KernelTime[]; totalMs: number }> {
  await model.trainOnBatch(x, y);
  const info = await tf.profile(async () => {
    for (let i = 0; i < steps; i++) await model.trainOnBatch(x, y);
  });
  const byName = new Map<string, KernelTime>();
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const entry = byName.get(k.name) ?? { name: k.name, ms: 0, calls: 0 };
    entry.ms += ms / steps;
    entry.calls += 1 / steps;
    byName.set(k.name, entry);
  }
  const kernels = [...byName.values()].sort((a, b) => b.ms - a.ms);
  // tf.profile also records ops with a custom gradient (e.g. fusedMatMul__op) around the kernels they
  // run: listed, but not added to the total twice.
  return { kernels, totalMs: kernels.filter((k) => !k.name.endsWith('__op')).reduce((s, k) => s + k.ms, 0) };
}

export function formatProfile(title: string, profile: { kernels: KernelTime[]; totalMs: number }, top = 12): string {
  const lines = [`${title}: ${profile.totalMs.toFixed(1)} ms of kernels per step`];
  for (const k of profile.kernels.slice(0, top)) {
    lines.push(`  ${k.name.padEnd(22)} ${k.ms.toFixed(2).padStart(8)} ms  ${String(Math.round(k.calls)).padStart(4)} calls`);
  }
  return lines.join('\n');
}
