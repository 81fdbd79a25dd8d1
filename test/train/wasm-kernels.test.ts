// Each fast wasm kernel against tfjs's original wasm kernel (or, for the conv gradient wasm lacks,
// the cpu backend's): the same random inputs, results equal within 1e-5.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../../src/train/backend.ts';
import { registerWasmConvBackpropFilter } from '../../src/train/wasm-conv-kernels.ts';
import {
  chooseProductLayout,
  FUSED_ADAM,
  fastWasmKernelsInstalled,
  installFastWasmKernels,
  replacedWasmKernels,
  restoreOriginalWasmKernels,
} from '../../src/train/wasm-kernels.ts';

const TOLERANCE = 1e-5;

function random(shape: number[], seed: number): Float32Array {
  let s = seed * 7919 + 1;
  return Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => {
    s = (s * 16807) % 2147483647;
    return (s / 2147483647) * 2 - 1;
  });
}

/** Runs `f` with the fast kernels, then with tfjs's originals; returns both outputs as arrays. */
function fastAndOriginal(f: () => tf.Tensor | tf.Tensor[]): { fast: Float32Array[]; original: Float32Array[]; shapes: number[][] } {
  const run = () => {
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const values = list.map((t) => Float32Array.from(t.dataSync() as Float32Array));
    const shapes = list.map((t) => t.shape);
    tf.dispose(list);
    return { values, shapes };
  };
  installFastWasmKernels();
  const fast = run();
  restoreOriginalWasmKernels();
  try {
    const original = run();
    assert.deepEqual(fast.shapes, original.shapes, 'output shapes');
    return { fast: fast.values, original: original.values, shapes: fast.shapes };
  } finally {
    installFastWasmKernels();
  }
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function assertClose(fast: Float32Array[], original: Float32Array[], label: string): void {
  fast.forEach((values, i) => {
    const d = maxDiff(values, original[i]);
    assert.ok(d <= TOLERANCE, `${label} output ${i}: max |fast − original| = ${d}`);
  });
}

before(async () => {
  assert.equal(await initBackend('wasm'), 'wasm');
});

test('initBackend installs the fast kernels on wasm, and restore puts the originals back', () => {
  assert.equal(fastWasmKernelsInstalled(), true);
  const fast = replacedWasmKernels.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc);
  restoreOriginalWasmKernels();
  const original = replacedWasmKernels.map((name) => tf.getKernel(name, 'wasm')?.kernelFunc);
  installFastWasmKernels();
  for (const [i, name] of replacedWasmKernels.entries()) assert.notEqual(fast[i], original[i], `${name} is replaced`);
  assert.ok(tf.getKernel(FUSED_ADAM, 'wasm'));
});

test('Transpose: batched matrix transposes and other permutations equal the original', () => {
  const cases: [number[], number[]][] = [
    [
      [7, 5],
      [1, 0],
    ],
    [
      [33, 17],
      [1, 0],
    ],
    [
      [3, 5, 7],
      [0, 2, 1],
    ],
    [
      [1, 9, 1, 4],
      [0, 3, 2, 1],
    ],
    [
      [2, 3, 4],
      [2, 0, 1],
    ],
    [
      [4, 1, 6],
      [1, 0, 2],
    ],
  ];
  for (const [shape, perm] of cases) {
    const { fast, original } = fastAndOriginal(() => tf.transpose(tf.tensor(random(shape, shape.length), shape), perm));
    assertClose(fast, original, `transpose ${shape} by ${perm}`);
    const ints = fastAndOriginal(() => tf.transpose(tf.tensor(random(shape, 3), shape).mul(100).toInt(), perm).toFloat());
    assertClose(ints.fast, ints.original, `int32 transpose ${shape}`);
  }
});

test('the product layout rule picks each layout for the shapes backprop produces', () => {
  assert.equal(chooseProductLayout(64, 1024, 1024, false, true), 'swapped'); // dy·Wᵀ
  assert.equal(chooseProductLayout(1024, 64, 1024, true, false), 'direct'); // xᵀ·dy
  assert.equal(chooseProductLayout(40, 3, 5, false, true), 'direct');
  assert.equal(chooseProductLayout(3, 40, 40, true, true), 'swapped');
});

test('BatchMatMul with every transpose combination, batches and broadcasting equals the original', () => {
  const cases: { a: number[]; b: number[] }[] = [
    { a: [5, 7], b: [7, 3] },
    { a: [3, 40], b: [40, 40] },
    { a: [40, 3], b: [3, 40] },
    { a: [3, 5, 7], b: [3, 7, 4] },
    { a: [1, 6, 9], b: [4, 9, 5] },
    { a: [2, 1, 3, 11], b: [2, 1, 11, 13] },
  ];
  let seed = 1;
  for (const { a, b } of cases) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        const aShape = transposeA ? [...a.slice(0, -2), a.at(-1)!, a.at(-2)!] : a;
        const bShape = transposeB ? [...b.slice(0, -2), b.at(-1)!, b.at(-2)!] : b;
        const av = random(aShape, seed++);
        const bv = random(bShape, seed++);
        const { fast, original } = fastAndOriginal(() => tf.matMul(tf.tensor(av, aShape), tf.tensor(bv, bShape), transposeA, transposeB));
        assertClose(fast, original, `matMul ${aShape}${transposeA ? 'ᵀ' : ''}·${bShape}${transposeB ? 'ᵀ' : ''}`);
      }
    }
  }
});

// tfjs 4.22's own wasm _FusedMatMul is wrong with transposeB and a bias (e.g. 2.18 where matMul + bias
// + relu gives 0), so the reference here is the original kernel on its untransposed path, fed
// transposes made by the original Transpose kernel.
test('_FusedMatMul with bias, activation and transposes equals the original on untransposed operands', () => {
  let seed = 50;
  for (const [m, k, n] of [
    [5, 7, 3],
    [3, 40, 40],
    [17, 9, 33],
  ]) {
    for (const transposeA of [false, true]) {
      for (const transposeB of [false, true]) {
        for (const withBias of [false, true]) {
          const aShape: [number, number] = transposeA ? [k, m] : [m, k];
          const bShape: [number, number] = transposeB ? [n, k] : [k, n];
          const av = random(aShape, seed++);
          const bv = random(bShape, seed++);
          const bias = withBias ? random([n], seed++) : null;
          const fused = (plain: boolean) => () => {
            const a = tf.tensor2d(av, aShape);
            const b = tf.tensor2d(bv, bShape);
            return tf.fused.matMul({
              a: plain && transposeA ? tf.transpose(a) : a,
              b: plain && transposeB ? tf.transpose(b) : b,
              transposeA: plain ? false : transposeA,
              transposeB: plain ? false : transposeB,
              bias: bias ? tf.tensor1d(bias) : undefined,
              activation: 'relu',
            });
          };
          const fast = fastAndOriginal(fused(false)).fast;
          const original = fastAndOriginal(fused(true)).original;
          assertClose(fast, original, `fused ${aShape}·${bShape} tA=${transposeA} tB=${transposeB} bias=${withBias}`);
        }
      }
    }
  }
});

test('Tile equals the original on ranks 1–4, odd sizes and int32', () => {
  const cases: [number[], number[]][] = [
    [[5], [3]],
    [
      [1, 7],
      [9, 1],
    ],
    [
      [3, 5],
      [2, 3],
    ],
    [
      [1, 1, 1, 13],
      [1, 1, 7, 1],
    ],
    [
      [2, 3, 1, 5],
      [3, 1, 4, 2],
    ],
    [
      [4, 6],
      [1, 1],
    ],
  ];
  for (const [shape, reps] of cases) {
    const { fast, original } = fastAndOriginal(() => tf.tile(tf.tensor(random(shape, 9), shape), reps));
    assertClose(fast, original, `tile ${shape} × ${reps}`);
    const ints = fastAndOriginal(() => tf.tile(tf.tensor(random(shape, 4), shape).mul(100).toInt(), reps).toFloat());
    assertClose(ints.fast, ints.original, `int32 tile ${shape}`);
  }
});

test('Sum and Mean over leading axes (and the cases left to the original) equal the original', () => {
  const cases: [number[], number | number[], boolean][] = [
    [[6, 5], 0, false],
    [[6, 5], 0, true],
    [[33, 17], [0], false],
    [[1, 1, 7, 5], [0, 1, 2], false],
    [[1, 1, 7, 5], [0, 1, 2], true],
    [[3, 4, 5], [0, 1], false],
    [[3, 4, 5], [1, 0], true],
    [[3, 4, 5], 1, false],
    [[3, 4, 5], -1, false],
    [[9, 3], [0, 1], false],
  ];
  let seed = 400;
  for (const [shape, axis, keepDims] of cases) {
    const values = random(shape, seed++);
    for (const op of [tf.sum, tf.mean]) {
      const { fast, original } = fastAndOriginal(() => op(tf.tensor(values, shape), axis, keepDims));
      assertClose(fast, original, `${op === tf.sum ? 'sum' : 'mean'} ${shape} axis ${axis} keepDims ${keepDims}`);
    }
  }
});

test('Identity and same-dtype Cast share memory safely; GatherV2 with contiguous rows equals the original', () => {
  const values = random([5, 3], 500);
  const { fast, original } = fastAndOriginal(() => {
    const x = tf.tensor2d(values, [5, 3]);
    const copies = [tf.clone(x), x.cast('float32')];
    x.dispose(); // the copies must outlive their source
    const v = tf.variable(tf.tensor2d(values, [5, 3]));
    const snapshot = v.clone();
    v.assign(tf.zeros([5, 3]));
    v.dispose();
    return [...copies, snapshot];
  });
  assertClose(fast, original, 'identity/cast');
  for (const out of fast) assert.deepEqual(out, Float32Array.from(values), 'copies keep the values');

  const table = random([9, 4], 501);
  const gathers: [number[], number][] = [
    [[2, 3, 4, 5], 0],
    [[0], 0],
    [[8, 7], 0],
    [[0, 2, 4], 0],
    [[1, 2], 1],
  ];
  for (const [indices, axis] of gathers) {
    for (const dtype of ['float32', 'int32'] as const) {
      const r = fastAndOriginal(() =>
        tf
          .gather(
            tf
              .tensor2d(table, [9, 4])
              .mul(dtype === 'int32' ? 100 : 1)
              .cast(dtype),
            tf.tensor1d(indices, 'int32'),
            axis,
          )
          .toFloat(),
      );
      assertClose(r.fast, r.original, `gather ${indices} axis ${axis} ${dtype}`);
    }
  }
});

test("the fused Adam update equals tfjs's Adam step for step (vector body and scalar tail)", () => {
  const shapes = [[7, 3], [1001], [4], [2, 5, 3]];
  const { fast, original } = fastAndOriginal(() => {
    const variables = shapes.map((shape, i) => tf.variable(tf.tensor(random(shape, 100 + i), shape)));
    const optimizer = tf.train.adam(0.05, 0.8, 0.95, 1e-4);
    for (let step = 0; step < 6; step++) {
      const grads = variables.map((v, i) => ({ name: v.name, tensor: tf.tensor(random(v.shape, 200 + 10 * step + i), v.shape) }));
      optimizer.applyGradients(grads);
      tf.dispose(grads.map((g) => g.tensor));
    }
    const values = variables.map((v) => v.clone());
    optimizer.dispose();
    tf.dispose(variables);
    return values;
  });
  assertClose(fast, original, 'Adam');
  // Same float32 operations in the same order: not just close, identical.
  for (const [i, values] of fast.entries()) assert.deepEqual(values, original[i], `Adam variable ${i} is bit-identical`);
});

test('Conv2DBackpropFilter (im2col + matMul) and Conv2DBackpropInput on wasm equal the cpu backend', async () => {
  registerWasmConvBackpropFilter();
  const cases = [
    { x: [3, 7, 9, 2], f: [3, 3, 2, 5], strides: 1, pad: 'same' },
    { x: [2, 8, 8, 3], f: [3, 2, 3, 4], strides: 2, pad: 'valid' },
    { x: [1, 5, 6, 1], f: [2, 2, 1, 3], strides: [2, 1], pad: 'same' },
    { x: [4, 6, 5, 3], f: [1, 1, 3, 2], strides: 1, pad: 'valid' },
  ] as const;
  let seed = 300;
  for (const c of cases) {
    const xv = random([...c.x], seed++);
    const fv = random([...c.f], seed++);
    const probe = random([1000], seed++);
    const gradients: Record<string, Float32Array[]> = {};
    for (const backend of ['wasm', 'cpu']) {
      assert.equal(await tf.setBackend(backend), true);
      gradients[backend] = tf.tidy(() => {
        const x = tf.tensor4d(xv, [...c.x] as [number, number, number, number]);
        const f = tf.tensor4d(fv, [...c.f] as [number, number, number, number]);
        // A weighted sum keeps the gradients of order 1 (a fixed random weight per output).
        const loss = (a: tf.Tensor, b: tf.Tensor) => {
          const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.strides as [number, number], c.pad);
          const w = tf.tensor(
            Array.from({ length: y.size }, (_, i) => probe[i % probe.length]),
            y.shape,
          );
          return tf.sum(tf.mul(y, w));
        };
        return tf
          .grads(loss)([x, f])
          .map((g) => Float32Array.from(g.dataSync() as Float32Array));
      });
    }
    assertClose(gradients.wasm, gradients.cpu, `conv2d grads ${JSON.stringify(c)}`);
  }
  assert.equal(await tf.setBackend('wasm'), true);
});
