import * as tf from '@tensorflow/tfjs';
import { readSettings } from '../settings.ts';
import { skipCpuBackendAdvice } from './cpu-backend-advice.ts';
import { registerWasmConvBackpropFilter, unregisterWasmConvBackpropFilter, wasmCanTrainConv } from './wasm-conv-kernels.ts';
import { installFastWasmKernels, restoreOriginalWasmKernels } from './wasm-kernels.ts';

export type BackendPreference = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

let wasmRegistered = false;
let nodeBackendTried = false;
let nodeBackendAvailable = false;

/**
 * `BNSERVE_WASM_KERNELS=original` keeps tfjs's own wasm kernels (slow transposed products, no conv
 * training on wasm): the "before" of `npm run bench -- train`, and a way out should a replacement misbehave.
 */
export function fastWasmKernelsWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return readSettings(['BNSERVE_WASM_KERNELS'], env).BNSERVE_WASM_KERNELS !== 'original';
}

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

async function tryWasm(needsConvTraining: boolean): Promise<boolean> {
  try {
    if (!wasmRegistered) {
      await import('@tensorflow/tfjs-backend-wasm');
      wasmRegistered = true;
    }
    if (!(await tf.setBackend('wasm'))) return false;
  } catch {
    return false;
  }
  if (fastWasmKernelsWanted()) {
    installFastWasmKernels();
    registerWasmConvBackpropFilter();
  } else {
    restoreOriginalWasmKernels();
    unregisterWasmConvBackpropFilter();
  }
  return !needsConvTraining || wasmCanTrainConv();
}

/**
 * Picks the fastest backend that can train the model: tfjs-node when it loads, else wasm with the
 * fast kernels of ./wasm-kernels.ts (dense and, with ./wasm-conv-kernels.ts, conv nets; `npm run
 * bench -- train` measured wasm ahead of cpu on both), else cpu. Without the fast kernels wasm
 * cannot train conv nets, which then go to cpu. Returns the name of the backend in use.
 */
export async function initBackend(prefer: BackendPreference = 'auto', needsConvTraining = false): Promise<string> {
  const order: BackendPreference[] = prefer === 'auto' ? ['tensorflow', 'wasm', 'cpu'] : [prefer, 'cpu'];
  for (const candidate of order) {
    if (candidate === 'tensorflow' && (await tryLoadNodeBackend()) && (await tf.setBackend('tensorflow'))) break;
    if (candidate === 'wasm' && (await tryWasm(needsConvTraining))) break;
    if (candidate === 'cpu' && (await tf.setBackend('cpu'))) break;
  }
  await tf.ready();
  await skipCpuBackendAdvice();
  return tf.getBackend();
}
