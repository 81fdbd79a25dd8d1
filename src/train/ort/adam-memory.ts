// The trainable weights, their gradients and Adam's m and v in one WebAssembly memory: onnxruntime
// reads the weights and writes the gradients through Float32Array views of it, and Adam runs in one
// SIMD pass per weight in place (../wasm-simd-adam.ts, the same float32 operations as tf.train.adam).
// As ONNX nodes the same update takes ~14 elementwise passes over every weight, which cost more than
// the matrix products of a step on the 784-1024-1024-10 net.
import { adamUpdate, type FusedAdamAttrs } from '../wasm-kernels.ts';
import { simdAdamFor } from '../wasm-simd-adam.ts';

const PAGE = 65536;
const ALIGN = 16;

export interface AdamSlot {
  value: Float32Array;
  m: Float32Array;
  v: Float32Array;
  gradient: Float32Array;
}

export interface AdamMemory {
  /** Views per weight, in the order of `sizes`. */
  slots: AdamSlot[];
  /** tf.train.adam's update of every weight from its gradient, in place; advances t. */
  update(learningRate: number): void;
  /** Optimizer steps taken. */
  readonly steps: number;
}

export function createAdamMemory(sizes: number[], constants: Omit<FusedAdamAttrs, 'learningRate'>): AdamMemory {
  const aligned = (n: number) => Math.ceil((n * 4) / ALIGN) * ALIGN;
  const bytes = sizes.reduce((total, n) => total + 4 * aligned(n), 0);
  const memory = new WebAssembly.Memory({ initial: Math.max(1, Math.ceil(bytes / PAGE)) });
  const simd = simdAdamFor(memory);
  let offset = 0;
  const region = (n: number) => {
    const view = new Float32Array(memory.buffer, offset, n);
    offset += aligned(n);
    return view;
  };
  const slots = sizes.map((n) => ({ value: region(n), m: region(n), v: region(n), gradient: region(n) }));
  const f = Math.fround;
  // tf.train.adam keeps β1ᵗ and β2ᵗ as float32 variables, multiplied by β after every step.
  let accBeta1 = f(constants.beta1);
  let accBeta2 = f(constants.beta2);
  let steps = 0;

  return {
    slots,
    update(learningRate) {
      const d1 = f(1 - accBeta1);
      const d2 = f(1 - accBeta2);
      const attrs = { ...constants, learningRate };
      for (const slot of slots) {
        const n = slot.value.length;
        let done = 0;
        if (simd) {
          const { beta1, beta2, epsilon } = constants;
          const [value, m, v, g] = [slot.value, slot.m, slot.v, slot.gradient].map((a) => a.byteOffset);
          simd(value, m, v, g, value, m, v, n, f(beta1), f(beta2), f(1 - beta1), f(1 - beta2), d1, d2, f(epsilon), f(-learningRate));
          done = n - (n % 4);
        }
        const tail = (a: Float32Array) => a.subarray(done);
        adamUpdate(tail(slot.value), tail(slot.m), tail(slot.v), tail(slot.gradient), d1, d2, attrs, {
          value: tail(slot.value),
          m: tail(slot.m),
          v: tail(slot.v),
        });
      }
      accBeta1 = f(accBeta1 * constants.beta1);
      accBeta2 = f(accBeta2 * constants.beta2);
      steps++;
    },
    get steps() {
      return steps;
    },
  };
}
