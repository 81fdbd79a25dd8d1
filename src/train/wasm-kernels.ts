// Faster replacements for slow tfjs 4.22 wasm kernels, installed through tfjs's kernel registry.
//
// Measured on the wasm backend (64×784·784×1024, the shapes of a 784→1024 layer's backward pass):
// a transposed operand sends the matrix product to a slow path (241 ms vs 10.9 ms for
// transpose-then-multiply), and the Transpose kernel itself is ~25× slower on 1024×1024 than on
// 1000×1000 (power-of-two strides thrash the cache). Backpropagation is made of such products.
// Every replacement only moves data (blocked transposes, tiling) or fuses float32 operations that
// it evaluates in the same order with float32 rounding (Math.fround), then hands the arithmetic
// heavy lifting to the original wasm kernels: results equal the originals up to float rounding.
import * as tf from '@tensorflow/tfjs';
import { adamModuleBytes, simdAdamFor } from './wasm-simd-adam.ts';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type KernelArgs = Parameters<KernelFunc>[0];
type TensorInfo = tf.TensorInfo;
type TypedArray = Float32Array | Int32Array | Uint8Array;

/** The parts of the wasm backend the replacements use. */
interface WasmBackend {
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): TypedArray;
  disposeData(dataId: object): boolean;
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  wasm: { asm?: { memory?: WebAssembly.Memory } };
}

const wasm = (args: KernelArgs) => args.backend as unknown as WasmBackend;
const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Blocked transpose of `batch` row-major rows×cols matrices (cache-friendly for any stride). */
export function transposeBatched(src: TypedArray, dst: TypedArray, batch: number, rows: number, cols: number): void {
  // 8×8 tiles: with power-of-two strides larger tiles map to the same cache sets (measured 2.5 ms vs
  // 11 ms for 32×32 on 1024×1024).
  const block = 8;
  const matrix = rows * cols;
  for (let b = 0; b < batch; b++) {
    const base = b * matrix;
    for (let r0 = 0; r0 < rows; r0 += block) {
      const r1 = Math.min(r0 + block, rows);
      for (let c0 = 0; c0 < cols; c0 += block) {
        const c1 = Math.min(c0 + block, cols);
        for (let r = r0; r < r1; r++) {
          const from = base + r * cols;
          for (let c = c0; c < c1; c++) dst[base + c * rows + r] = src[from + c];
        }
      }
    }
  }
}

/**
 * Reads a permutation as "swap the last two axes of a batch of matrices" once size-1 axes are
 * ignored; returns [batch, rows, cols] or null for any other permutation.
 */
function asBatchedMatrixTranspose(shape: readonly number[], perm: readonly number[]): [number, number, number] | null {
  const kept = perm.filter((axis) => shape[axis] !== 1);
  const order = [...kept].sort((a, b) => a - b);
  const n = kept.length;
  if (n < 2) return null;
  for (let i = 0; i < n - 2; i++) if (kept[i] !== order[i]) return null;
  if (kept[n - 2] !== order[n - 1] || kept[n - 1] !== order[n - 2]) return null;
  const rows = shape[order[n - 2]];
  const cols = shape[order[n - 1]];
  return [sizeOf(shape) / (rows * cols), rows, cols];
}

function fastTranspose(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { perm } = args.attrs as unknown as { perm: number[] };
    const plan = x.dtype === 'string' ? null : asBatchedMatrixTranspose(x.shape, perm);
    if (!plan) return original(args);
    const backend = wasm(args);
    const out = backend.makeOutput(
      perm.map((axis) => x.shape[axis]),
      x.dtype,
    );
    // Views are taken after makeOutput: a heap growth detaches earlier views.
    transposeBatched(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), ...plan);
    return out;
  };
}

function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1], perm[rank - 2]];
  return perm;
}

/**
 * Chooses how to run C = op(A)·op(B) on the fast untransposed path. The wasm kernel packs its right
 * operand afresh whenever that tensor is new (every training step for weights and gradients), so
 * both materialised transposes and the right operand's size count:
 *  - direct: transpose the flagged operands, C = A'·B'          (packs K×N)
 *  - swapped: Cᵀ = op(B)ᵀ·op(A)ᵀ, then transpose Cᵀ             (packs K×M)
 * For dy·Wᵀ (64×1024 · (1024×1024)ᵀ) the swapped form moves 0.2M elements instead of 2M (4 ms vs 14 ms).
 */
export function chooseProductLayout(m: number, k: number, n: number, transposeA: boolean, transposeB: boolean): 'direct' | 'swapped' {
  const direct = (transposeA ? m * k : 0) + (transposeB ? n * k : 0) + k * n;
  const swapped = (transposeA ? 0 : m * k) + (transposeB ? 0 : n * k) + k * m + m * n;
  return swapped < direct ? 'swapped' : 'direct';
}

/**
 * Runs a product with transposed operands on the original kernel's fast, untransposed path by
 * materialising transposes (fast Transpose above); `canSwap` allows computing Cᵀ = op(B)ᵀ·op(A)ᵀ
 * (not for _FusedMatMul with a bias or PReLU weights, which are laid out along C's columns).
 * Temporaries are released before returning.
 */
function untransposedProduct(product: KernelFunc, transpose: KernelFunc, canSwap: (args: KernelArgs) => boolean): KernelFunc {
  return (args) => {
    const attrs = args.attrs as { transposeA?: boolean; transposeB?: boolean };
    const transposeA = attrs.transposeA === true;
    const transposeB = attrs.transposeB === true;
    if (!transposeA && !transposeB) return product(args);
    const { a, b } = args.inputs as { a: TensorInfo; b: TensorInfo };
    const backend = wasm(args);
    const temporaries: TensorInfo[] = [];
    const transposed = (x: TensorInfo) => {
      const t = transpose({ inputs: { x }, backend: args.backend, attrs: { perm: swapLastTwo(x.shape.length) } }) as TensorInfo;
      temporaries.push(t);
      return t;
    };
    const ar = a.shape.length;
    const br = b.shape.length;
    const m = transposeA ? a.shape[ar - 1] : a.shape[ar - 2];
    const k = transposeA ? a.shape[ar - 2] : a.shape[ar - 1];
    const n = transposeB ? b.shape[br - 2] : b.shape[br - 1];
    const plain = { ...args.attrs, transposeA: false, transposeB: false };
    try {
      if (canSwap(args) && chooseProductLayout(m, k, n, transposeA, transposeB) === 'swapped') {
        const left = transposeB ? b : transposed(b);
        const right = transposeA ? a : transposed(a);
        const cT = product({ inputs: { ...args.inputs, a: left, b: right }, backend: args.backend, attrs: plain }) as TensorInfo;
        temporaries.push(cT);
        return transpose({ inputs: { x: cT }, backend: args.backend, attrs: { perm: swapLastTwo(cT.shape.length) } });
      }
      const left = transposeA ? transposed(a) : a;
      const right = transposeB ? transposed(b) : b;
      return product({ inputs: { ...args.inputs, a: left, b: right }, backend: args.backend, attrs: plain });
    } finally {
      for (const t of temporaries) backend.disposeData(t.dataId);
    }
  };
}

/** Tile as block copies: the innermost axis row by row, then each filled block repeated with copyWithin. */
export function tileInto(src: TypedArray, dst: TypedArray, shape: readonly number[], reps: readonly number[]): void {
  const rank = shape.length;
  const srcStride = new Array<number>(rank).fill(1);
  const dstStride = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) {
    srcStride[d] = srcStride[d + 1] * shape[d + 1];
    dstStride[d] = dstStride[d + 1] * shape[d + 1] * reps[d + 1];
  }
  const fill = (d: number, from: number, to: number) => {
    const span = shape[d] * dstStride[d];
    if (d === rank - 1) {
      dst.set(src.subarray(from, from + shape[d]), to);
    } else {
      for (let i = 0; i < shape[d]; i++) fill(d + 1, from + i * srcStride[d], to + i * dstStride[d]);
    }
    for (let r = 1; r < reps[d]; r++) dst.copyWithin(to + r * span, to, to + span);
  };
  if (rank === 0 || sizeOf(shape) === 0) {
    if (rank === 0) dst.set(src);
    return;
  }
  fill(0, 0, 0);
}

function fastTile(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { reps } = args.attrs as unknown as { reps: number[] };
    if (x.dtype === 'string' || reps.length !== x.shape.length) return original(args);
    const backend = wasm(args);
    const out = backend.makeOutput(
      x.shape.map((n, i) => n * reps[i]),
      x.dtype,
    );
    if (sizeOf(out.shape) > 0) tileInto(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(out), x.shape, reps);
    return out;
  };
}

// ---- Identity, same-dtype Cast, contiguous Gather: no copies ---------------------------------------
// tfjs tensors are immutable (a Variable's assign swaps its dataId), so an identity may share its
// input's memory, as the cpu backend's Identity does; the wasm one copies every time (85 calls per
// training step of a two-BN-layer MLP).

function sharedIdentity(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    if (x.dtype === 'string') return original(args);
    wasm(args).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

function sharedSameTypeCast(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { dtype } = args.attrs as unknown as { dtype: tf.DataType };
    if (x.dtype !== dtype || dtype === 'string') return original(args);
    wasm(args).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype };
  };
}

/** First index when `indices` is s, s+1, …, s+n−1 (what fit's batch slicing passes), else null. */
function contiguousStart(indices: Int32Array): number | null {
  for (let i = 1; i < indices.length; i++) if (indices[i] !== indices[0] + i) return null;
  return indices.length > 0 ? indices[0] : null;
}

function contiguousGather(original: KernelFunc): KernelFunc {
  return (args) => {
    const { x, indices } = args.inputs as { x: TensorInfo; indices: TensorInfo };
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims?: number };
    const backend = wasm(args);
    if ((x.dtype !== 'float32' && x.dtype !== 'int32') || indices.dtype !== 'int32' || indices.shape.length !== 1) return original(args);
    if ((batchDims ?? 0) !== 0 || tf.util.parseAxisParam(axis, x.shape)[0] !== 0) return original(args);
    const start = contiguousStart(backend.typedArrayFromHeap(indices) as Int32Array);
    const rows = indices.shape[0];
    if (start === null || start < 0 || start + rows > x.shape[0]) return original(args);
    const out = backend.makeOutput([rows, ...x.shape.slice(1)], x.dtype);
    const row = sizeOf(x.shape.slice(1));
    backend.typedArrayFromHeap(out).set(backend.typedArrayFromHeap(x).subarray(start * row, (start + rows) * row));
    return out;
  };
}

// ---- Sum / Mean over leading axes ------------------------------------------------------------------
// tfjs's wasm Sum and Mean reduce over the last axis only; any other axis first goes through its
// slow C++ transpose. Reductions over the leading axes (bias and BN gradients: [batch, units] → [units])
// are summed here row by row in float32, in the order the original sums each column.

/** Σ over the first `outer` rows of a row-major [outer, inner] array, each addition rounded to float32. */
export function sumLeadingRows(x: Float32Array, out: Float32Array, outer: number, inner: number, divideBy = 1): void {
  out.fill(0);
  for (let i = 0; i < outer; i++) {
    const row = i * inner;
    for (let j = 0; j < inner; j++) out[j] += x[row + j];
  }
  if (divideBy !== 1) for (let j = 0; j < inner; j++) out[j] /= divideBy;
}

/** [outer, inner] when `axes` are exactly the leading axes of `shape` (size-1 axes ignored), else null. */
function leadingReduction(shape: readonly number[], axes: readonly number[]): [number, number] | null {
  const reduced = new Set(axes);
  let seenKept = false;
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    if (reduced.has(d) && seenKept) return null;
    if (!reduced.has(d)) seenKept = true;
  }
  const outer = sizeOf(shape.filter((_, d) => reduced.has(d)));
  return [outer, sizeOf(shape) / Math.max(outer, 1)];
}

function fastLeadingReduction(original: KernelFunc, mean: boolean): KernelFunc {
  return (args) => {
    const { x } = args.inputs as { x: TensorInfo };
    const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    if (x.dtype !== 'float32' || x.shape.length === 0) return original(args);
    const axes = tf.util.parseAxisParam(axis, x.shape);
    const plan = leadingReduction(x.shape, axes);
    // A full reduction (inner 1) is a last-axis reduction: the original is fast there.
    if (!plan || plan[0] === 0 || plan[1] < 4) return original(args);
    const shape = keepDims ? x.shape.map((n, d) => (axes.includes(d) ? 1 : n)) : x.shape.filter((_, d) => !axes.includes(d));
    const backend = wasm(args);
    const out = backend.makeOutput(shape, 'float32');
    const [outer, inner] = plan;
    sumLeadingRows(
      backend.typedArrayFromHeap(x) as Float32Array,
      backend.typedArrayFromHeap(out) as Float32Array,
      outer,
      inner,
      mean ? outer : 1,
    );
    return out;
  };
}

// ---- Adam: one pass instead of ~13 elementwise kernels per variable --------------------------------

/** Name of the fused Adam kernel this module registers for wasm. */
export const FUSED_ADAM = 'BnserveFusedAdam';

export interface FusedAdamAttrs {
  beta1: number;
  beta2: number;
  epsilon: number;
  learningRate: number;
}

const f = Math.fround;

/**
 * tfjs's Adam update for one variable, op for op and in the same order, each op rounded to float32
 * (wasm computes in float32; float32 +−×÷√ done in float64 and rounded once are exact):
 * m' = m·β1 + g·(1−β1); v' = v·β2 + g²·(1−β2); x' = (m'/(1−β1ᵗ)) / (√(v'/(1−β2ᵗ)) + ε) · (−lr) + x.
 */
export function adamUpdate(
  value: Float32Array,
  m: Float32Array,
  v: Float32Array,
  g: Float32Array,
  oneMinusAccBeta1: number,
  oneMinusAccBeta2: number,
  attrs: FusedAdamAttrs,
  out: { value: Float32Array; m: Float32Array; v: Float32Array },
): void {
  const b1 = f(attrs.beta1);
  const b2 = f(attrs.beta2);
  const c1 = f(1 - attrs.beta1);
  const c2 = f(1 - attrs.beta2);
  const eps = f(attrs.epsilon);
  const step = f(-attrs.learningRate);
  const d1 = f(oneMinusAccBeta1);
  const d2 = f(oneMinusAccBeta2);
  for (let i = 0; i < value.length; i++) {
    const gi = g[i];
    const mi = f(f(m[i] * b1) + f(gi * c1));
    const vi = f(f(v[i] * b2) + f(f(gi * gi) * c2));
    const mHat = f(mi / d1);
    const vHat = f(vi / d2);
    out.m[i] = mi;
    out.v[i] = vi;
    out.value[i] = f(f(f(mHat / f(f(Math.sqrt(vHat)) + eps)) * step) + value[i]);
  }
}

const fusedAdamKernel: KernelFunc = (args) => {
  const { value, m, v, g, oneMinusAccBeta1, oneMinusAccBeta2 } = args.inputs as Record<string, TensorInfo>;
  const attrs = args.attrs as unknown as FusedAdamAttrs;
  const backend = wasm(args);
  const outputs = [value, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  // Views are taken after makeOutput: a heap growth detaches earlier views.
  const read = (t: TensorInfo) => backend.typedArrayFromHeap(t) as Float32Array;
  const d1 = read(oneMinusAccBeta1)[0];
  const d2 = read(oneMinusAccBeta2)[0];
  const n = sizeOf(value.shape);
  const memory = backend.wasm.asm?.memory;
  const simd = memory ? simdAdamFor(memory) : null;
  let done = 0;
  if (simd) {
    const address = (t: TensorInfo) => backend.dataIdMap.get(t.dataId).memoryOffset;
    const [b1, b2, c1, c2, eps, step] = [
      attrs.beta1,
      attrs.beta2,
      1 - attrs.beta1,
      1 - attrs.beta2,
      attrs.epsilon,
      -attrs.learningRate,
    ].map(f);
    simd(
      ...([value, m, v, g, ...outputs].map(address) as [number, number, number, number, number, number, number]),
      n,
      b1,
      b2,
      c1,
      c2,
      f(d1),
      f(d2),
      eps,
      step,
    );
    done = n - (n % 4);
  }
  const tail = (t: TensorInfo) => read(t).subarray(done);
  adamUpdate(tail(value), tail(m), tail(v), tail(g), d1, d2, attrs, {
    value: tail(outputs[0]),
    m: tail(outputs[1]),
    v: tail(outputs[2]),
  });
  return outputs;
};

interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: tf.Variable;
  accBeta2: tf.Variable;
  accumulatedFirstMoment: { originalName: string; variable: tf.Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: tf.Variable }[];
  incrementIterations(): void;
}

type ApplyGradients = tf.AdamOptimizer['applyGradients'];

/** tfjs 4.22's AdamOptimizer.applyGradients with the per-variable arithmetic done by FUSED_ADAM. */
function fusedApplyGradients(this: tf.AdamOptimizer, variableGradients: Parameters<ApplyGradients>[0]): void {
  const self = this as unknown as AdamInternals;
  const list = Array.isArray(variableGradients);
  const names = list ? variableGradients.map((v) => v.name) : Object.keys(variableGradients);
  tf.tidy(() => {
    const oneMinusAccBeta1 = tf.sub(1, self.accBeta1);
    const oneMinusAccBeta2 = tf.sub(1, self.accBeta2);
    names.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name];
      self.accumulatedFirstMoment[i] ??= { originalName: `${name}/m`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      self.accumulatedSecondMoment[i] ??= { originalName: `${name}/v`, variable: tf.tidy(() => tf.zerosLike(value).variable(false)) };
      const gradient = list ? variableGradients[i].tensor : variableGradients[name];
      if (gradient == null) return;
      const m = self.accumulatedFirstMoment[i].variable;
      const v = self.accumulatedSecondMoment[i].variable;
      const attrs: FusedAdamAttrs = { beta1: self.beta1, beta2: self.beta2, epsilon: self.epsilon, learningRate: self.learningRate };
      const [newValue, newM, newV] = tf
        .engine()
        .runKernel(
          FUSED_ADAM,
          { value, m, v, g: gradient, oneMinusAccBeta1, oneMinusAccBeta2 },
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
      m.assign(newM);
      v.assign(newV);
      value.assign(newValue);
    });
    self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
    self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
  });
  self.incrementIterations();
}

let originalApplyGradients: ApplyGradients | null = null;

function patchAdam(): void {
  const proto = tf.AdamOptimizer.prototype;
  originalApplyGradients = proto.applyGradients;
  const original = originalApplyGradients;
  const simd = WebAssembly.validate(adamModuleBytes());
  proto.applyGradients = function (this: tf.AdamOptimizer, variableGradients) {
    // Only wasm has the fused kernel; any other backend (or float16/int grads) keeps tfjs's path.
    // Without WebAssembly SIMD the fused update would be a scalar JavaScript loop, slower than tfjs's kernels.
    if (tf.getBackend() !== 'wasm' || !simd) return original.call(this, variableGradients);
    const grads = Array.isArray(variableGradients) ? variableGradients.map((v) => v.tensor) : Object.values(variableGradients);
    if (grads.some((g) => g != null && g.dtype !== 'float32')) return original.call(this, variableGradients);
    return fusedApplyGradients.call(this, variableGradients);
  };
}

function unpatchAdam(): void {
  if (originalApplyGradients) tf.AdamOptimizer.prototype.applyGradients = originalApplyGradients;
  originalApplyGradients = null;
}

// ---- installation ------------------------------------------------------------------------------------

const saved = new Map<string, tf.KernelConfig>();

function replace(kernelName: string, kernelFunc: KernelFunc): void {
  const config = tf.getKernel(kernelName, 'wasm');
  if (!config) throw new Error(`the wasm backend has no ${kernelName} kernel`);
  saved.set(kernelName, config);
  tf.unregisterKernel(kernelName, 'wasm');
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc, setupFunc: config.setupFunc, disposeFunc: config.disposeFunc });
}

/** Names of the wasm kernels this module replaces (plus the fused Adam kernel it adds). */
export const replacedWasmKernels = [
  'Transpose',
  'BatchMatMul',
  '_FusedMatMul',
  'Tile',
  'Sum',
  'Mean',
  'Identity',
  'Cast',
  'GatherV2',
] as const;

/**
 * Replaces the slow wasm kernels with the fast ones and routes Adam's update through one fused
 * kernel on wasm (idempotent). Call after the wasm backend is registered and initialised.
 */
export function installFastWasmKernels(options: { fusedAdam?: boolean } = {}): void {
  if (saved.size > 0) return;
  const original = (name: string) => {
    const config = tf.getKernel(name, 'wasm');
    if (!config) throw new Error(`the wasm backend has no ${name} kernel`);
    return config.kernelFunc;
  };
  const transpose = fastTranspose(original('Transpose'));
  replace('Transpose', transpose);
  replace(
    'BatchMatMul',
    untransposedProduct(original('BatchMatMul'), transpose, () => true),
  );
  replace(
    '_FusedMatMul',
    untransposedProduct(
      original('_FusedMatMul'),
      transpose,
      (args) => args.inputs.bias == null && args.inputs.preluActivationWeights == null,
    ),
  );
  replace('Tile', fastTile(original('Tile')));
  replace('Sum', fastLeadingReduction(original('Sum'), false));
  replace('Mean', fastLeadingReduction(original('Mean'), true));
  replace('Identity', sharedIdentity(original('Identity')));
  replace('Cast', sharedSameTypeCast(original('Cast')));
  replace('GatherV2', contiguousGather(original('GatherV2')));
  if (!tf.getKernel(FUSED_ADAM, 'wasm')) tf.registerKernel({ kernelName: FUSED_ADAM, backendName: 'wasm', kernelFunc: fusedAdamKernel });
  if (options.fusedAdam ?? true) patchAdam();
}

/** Puts the original wasm kernels and Adam back (for before/after comparisons and tests). */
export function restoreOriginalWasmKernels(): void {
  for (const [kernelName, config] of saved) {
    tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel(config);
  }
  saved.clear();
  unpatchAdam();
}

export function fastWasmKernelsInstalled(): boolean {
  return saved.size > 0;
}
