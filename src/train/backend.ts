import * as tf from '@tensorflow/tfjs';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

let wasmRegistered = false;
let nodeBackendTried = false;
let nodeBackendAvailable = false;

async function tryLoadNodeBackend(): Promise<boolean> {
  if (nodeBackendTried) return nodeBackendAvailable;
  nodeBackendTried = true;
  try {
    // Optional dependency: absent wherever its native download failed at install time.
    const name = '@tensorflow/tfjs-node';
    await import(name);
    nodeBackendAvailable = tf.findBackend('tensorflow') != null;
  } catch {
    nodeBackendAvailable = false;
  }
  return nodeBackendAvailable;
}

async function tryWasm(): Promise<boolean> {
  try {
    if (!wasmRegistered) {
      await import('@tensorflow/tfjs-backend-wasm');
      wasmRegistered = true;
    }
    return await tf.setBackend('wasm');
  } catch {
    return false;
  }
}

/**
 * Picks the fastest backend that can train the model: tfjs-node when it loads, else wasm
 * (which lacks the conv backprop kernels, so conv training goes to cpu), else cpu.
 * Returns the name of the backend in use.
 */
export async function initBackend(prefer: BackendPreference = 'auto', needsConvTraining = false): Promise<string> {
  const order: BackendPreference[] = prefer === 'auto' ? ['tensorflow', needsConvTraining ? 'cpu' : 'wasm', 'cpu'] : [prefer, 'cpu'];
  for (const candidate of order) {
    if (candidate === 'tensorflow' && (await tryLoadNodeBackend()) && (await tf.setBackend('tensorflow'))) break;
    if (candidate === 'wasm' && !needsConvTraining && (await tryWasm())) break;
    if (candidate === 'cpu' && (await tf.setBackend('cpu'))) break;
  }
  await tf.ready();
  return tf.getBackend();
}
