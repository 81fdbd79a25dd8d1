import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  bnAsScaleShift,
  foldBnForwardIntoDense,
  foldBnIntoConv,
  foldBnIntoDense,
  foldScaleShiftIntoNextConv,
  foldStandardization,
} from '../../src/export/fold.ts';
import { foldOps } from '../../src/export/fold-ops.ts';
import type { Op } from '../../src/export/ops.ts';
import { evaluateOps } from './reference.ts';
import { maxAbsDiff, randomOps } from './random-ops.ts';

const { uniform, dense: denseOp, conv: convOp, bnParams, bn: bnOp, input } = randomOps(2024);

describe('BN folding functions against a direct float64 computation', () => {
  test('bnAsScaleShift is y = (x − μ)/√(var+ε)·γ + β', () => {
    const bn = bnParams(5, 1e-3);
    const { scale, shift } = bnAsScaleShift(bn);
    for (const x of [-2, 0, 0.7, 3]) {
      for (let c = 0; c < 5; c++) {
        const direct = ((x - bn.movingMean[c]) / Math.sqrt(bn.movingVariance[c] + bn.epsilon)) * bn.gamma[c] + bn.beta[c];
        assert.ok(Math.abs(x * scale[c] + shift[c] - direct) < 1e-9);
      }
    }
  });

  for (const useBias of [true, false]) {
    test(`Dense${useBias ? '' : ' without bias'} → BN (ε = 1e-3, negative γ)`, () => {
      const dense = denseOp(6, 4, useBias);
      const bn = bnOp(4, 1e-3);
      const x = input([7, 6]);
      const folded = foldBnIntoDense(dense, (bn as Extract<Op, { kind: 'batchNorm' }>).bn);
      const diff = maxAbsDiff(evaluateOps([{ ...dense, ...folded }], x), evaluateOps([dense, bn], x));
      assert.ok(diff < 1e-9, `diff ${diff}`);
    });
  }

  test('the trained ε matters: folding with 1e-5 instead of 1e-3 is visibly wrong', () => {
    const dense = denseOp(3, 4);
    const bn = bnParams(4, 1e-3);
    const x = input([5, 3]);
    const wrong = foldBnIntoDense(dense, { ...bn, epsilon: 1e-5 });
    const diff = maxAbsDiff(evaluateOps([{ ...dense, ...wrong }], x), evaluateOps([dense, { kind: 'batchNorm', name: 'bn', bn }], x));
    assert.ok(diff > 1e-2, `an ε of 1e-5 should change the output, diff ${diff}`);
  });

  for (const [padding, strides] of [
    ['same', [1, 1]],
    ['valid', [2, 1]],
    ['same', [2, 2]],
  ] as const) {
    test(`Conv2D (${padding}, strides ${strides}) → BN per output channel`, () => {
      const conv = convOp(2, 3, padding, [...strides]);
      const bn = bnParams(3, 0.01);
      const x = input([2, 6, 5, 2]);
      const folded = foldBnIntoConv(conv, bn);
      const diff = maxAbsDiff(evaluateOps([{ ...conv, ...folded }], x), evaluateOps([conv, { kind: 'batchNorm', name: 'bn', bn }], x));
      assert.ok(diff < 1e-9, `diff ${diff}`);
    });
  }

  test('BN → Dense folds forward exactly', () => {
    const bn = bnParams(5, 1e-3);
    const dense = denseOp(5, 3);
    const x = input([6, 5]);
    const folded = foldBnForwardIntoDense(bn, dense);
    const diff = maxAbsDiff(evaluateOps([{ ...dense, ...folded }], x), evaluateOps([{ kind: 'batchNorm', name: 'bn', bn }, dense], x));
    assert.ok(diff < 1e-9, `diff ${diff}`);
  });

  test('per-channel BN → Flatten → Dense folds forward with the NHWC flatten order', () => {
    const bn = bnParams(3, 1e-3);
    const dense = denseOp(2 * 2 * 3, 4);
    const x = input([3, 2, 2, 3]);
    const folded = foldBnForwardIntoDense(bn, dense);
    const reference = evaluateOps([{ kind: 'batchNorm', name: 'bn', bn }, { kind: 'flatten', name: 'f' }, dense], x);
    const diff = maxAbsDiff(
      evaluateOps(
        [
          { kind: 'flatten', name: 'f' },
          { ...dense, ...folded },
        ],
        x,
      ),
      reference,
    );
    assert.ok(diff < 1e-9, `diff ${diff}`);
  });

  test('an affine map folds into a following valid Conv2D', () => {
    const ss = bnAsScaleShift(bnParams(2, 1e-3));
    const conv = convOp(2, 3, 'valid');
    const x = input([2, 5, 6, 2]);
    const folded = foldScaleShiftIntoNextConv(ss, conv);
    const reference = evaluateOps([{ kind: 'scaleShift', name: 's', ...ss }, conv], x);
    assert.ok(maxAbsDiff(evaluateOps([{ ...conv, ...folded }], x), reference) < 1e-9);
  });

  test('standardisation folds into the first Dense and a valid Conv2D, not a same-padded one', () => {
    const mean = uniform(3, 2, 9);
    const std = uniform(3, 0.5, 4);
    const standardize: Op = { kind: 'standardize', name: 's', mean, std };

    const dense = denseOp(3, 2);
    const xDense = input([4, 3]);
    const intoDense = foldStandardization(mean, std, { kind: 'dense', params: dense });
    assert.ok(intoDense);
    assert.ok(maxAbsDiff(evaluateOps([{ ...dense, ...intoDense }], xDense), evaluateOps([standardize, dense], xDense)) < 1e-9);

    const conv = convOp(3, 2, 'valid');
    const xImage = input([2, 4, 4, 3]);
    const intoConv = foldStandardization(mean, std, { kind: 'conv', params: conv, padding: 'valid' });
    assert.ok(intoConv);
    assert.ok(maxAbsDiff(evaluateOps([{ ...conv, ...intoConv }], xImage), evaluateOps([standardize, conv], xImage)) < 1e-9);

    assert.equal(foldStandardization(mean, std, { kind: 'conv', params: convOp(3, 2, 'same'), padding: 'same' }), null);
  });

  test('mismatched channel counts are refused', () => {
    assert.throws(() => foldBnIntoDense(denseOp(3, 4), bnParams(5, 1e-3)), /5 channels, expected 4/);
    assert.throws(() => foldBnForwardIntoDense(bnParams(5, 1e-3), denseOp(12, 2)), /cannot feed a Dense with 12 inputs/);
  });
});

describe('foldOps over whole chains', () => {
  const kinds = (ops: Op[]) => ops.map((op) => op.kind);

  function assertSameFunction(ops: Op[], folded: Op[], shape: number[]): void {
    const x = input(shape);
    const diff = maxAbsDiff(evaluateOps(folded, x), evaluateOps(ops, x));
    assert.ok(diff < 1e-8, `folded chain differs by ${diff}`);
  }

  test('two consecutive Dense → BN blocks both fold (no BN left behind)', () => {
    const ops: Op[] = [denseOp(4, 5), bnOp(5, 1e-3), denseOp(5, 3, false), bnOp(3, 0.02)];
    const folded = foldOps(ops);
    assert.deepEqual(kinds(folded), ['dense', 'dense']);
    assertSameFunction(ops, folded, [6, 4]);
  });

  test('Conv → BN → Conv → BN → ReLU → Flatten → Dense: both BNs fold backwards', () => {
    const ops: Op[] = [
      convOp(2, 3, 'same'),
      bnOp(3, 1e-3),
      convOp(3, 4, 'same', [2, 2]),
      bnOp(4, 1e-3),
      { kind: 'activation', name: 'a', activation: 'relu' },
      { kind: 'flatten', name: 'f' },
      denseOp(3 * 3 * 4, 2),
    ];
    const folded = foldOps(ops);
    assert.deepEqual(kinds(folded), ['conv', 'conv', 'activation', 'flatten', 'dense']);
    assertSameFunction(ops, folded, [2, 5, 5, 2]);
  });

  test('BN after an activation or pooling folds forward into the next Dense; standardisation into the first Dense', () => {
    const ops: Op[] = [
      { kind: 'standardize', name: 's', mean: uniform(4, 1, 5), std: uniform(4, 0.5, 2) },
      bnOp(4, 1e-3),
      denseOp(4, 6),
      { kind: 'activation', name: 'a', activation: 'tanh' },
      bnOp(6, 1e-3),
      denseOp(6, 3),
      { kind: 'activation', name: 'o', activation: 'softmax' },
    ];
    const folded = foldOps(ops);
    assert.deepEqual(kinds(folded), ['dense', 'activation', 'dense', 'activation']);
    assertSameFunction(ops, folded, [5, 4]);

    const image: Op[] = [
      convOp(2, 3, 'same'),
      { kind: 'activation', name: 'a', activation: 'relu' },
      { kind: 'pool', name: 'p', type: 'max', poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
      bnOp(3, 1e-3),
      { kind: 'flatten', name: 'f' },
      denseOp(2 * 2 * 3, 2),
    ];
    const foldedImage = foldOps(image);
    assert.deepEqual(kinds(foldedImage), ['conv', 'activation', 'pool', 'flatten', 'dense']);
    assertSameFunction(image, foldedImage, [2, 4, 4, 2]);
  });

  test('a BN with nothing exact to fold into stays a single Mul + Add (scaleShift); same-padded standardisation stays', () => {
    const ops: Op[] = [
      { kind: 'standardize', name: 's', mean: uniform(2, 1, 5), std: uniform(2, 0.5, 2) },
      convOp(2, 3, 'same'),
      { kind: 'activation', name: 'a', activation: 'relu' },
      bnOp(3, 1e-3),
      { kind: 'pool', name: 'p', type: 'max', poolSize: [2, 2], strides: [2, 2], padding: 'same' },
      { kind: 'flatten', name: 'f' },
      denseOp(2 * 2 * 3, 2),
    ];
    const folded = foldOps(ops);
    assert.deepEqual(kinds(folded), ['standardize', 'conv', 'activation', 'scaleShift', 'pool', 'flatten', 'dense']);
    assertSameFunction(ops, folded, [2, 4, 3, 2]);
  });
});
