import * as tf from '@tensorflow/tfjs';

/**
 * tfjs's `cpu` backend prints "Hi, looks like you are running TensorFlow.js in Node.js. To speed
 * things up dramatically, install our node backend…" through console.warn on its first tensor
 * write, whenever IS_NODE (MathBackendCPU.write checks its `firstUse` flag). bnserve already uses
 * tfjs-node when it is installed and says which backend it picked, so the advice is noise on every
 * export, report and training run. Marking the backend as used skips exactly that message; other
 * warnings still go through. Waits for tfjs to settle its backend first: while none is chosen,
 * tfjs's choice re-creates backends (and with them the flag). Initialises the cpu backend (tfjs's
 * fallback) if it was not yet.
 */
export async function skipCpuBackendAdvice(): Promise<void> {
  await tf.ready();
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu && typeof cpu.firstUse === 'boolean') cpu.firstUse = false;
}
