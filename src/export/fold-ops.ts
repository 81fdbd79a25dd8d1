// Folding over the whole op chain (pure): every BN goes backwards into the Dense/Conv2D right before
// it; the rest become per-channel affine maps that go forward into the next Dense (through a
// Flatten) or 'valid' Conv2D when exact, else stay as Mul + Add. Input standardisation goes forward
// the same way, else stays as Sub/Div.
import {
  bnAsScaleShift,
  foldBnIntoConv,
  foldBnIntoDense,
  foldScaleShiftIntoNextConv,
  foldScaleShiftIntoNextDense,
  standardizationAsScaleShift,
  type ScaleShift,
} from './fold.ts';
import type { Op } from './ops.ts';

export function foldOps(ops: readonly Op[]): Op[] {
  return foldForward(foldBackward(ops));
}

function foldBackward(ops: readonly Op[]): Op[] {
  const out: Op[] = [];
  for (const op of ops) {
    const previous = out[out.length - 1];
    if (op.kind !== 'batchNorm') {
      out.push(op);
    } else if (previous?.kind === 'dense') {
      out[out.length - 1] = { ...previous, ...foldBnIntoDense(previous, op.bn) };
    } else if (previous?.kind === 'conv') {
      out[out.length - 1] = { ...previous, ...foldBnIntoConv(previous, op.bn) };
    } else {
      out.push({ kind: 'scaleShift', name: op.name, ...bnAsScaleShift(op.bn) });
    }
  }
  return out;
}

/** Right to left, so that chains of affine maps all reach the layer that absorbs them. */
function foldForward(ops: readonly Op[]): Op[] {
  const rest: Op[] = [];
  for (let i = ops.length - 1; i >= 0; i--) {
    const op = ops[i];
    const map = affineMap(op);
    if (map && absorbInto(map, rest)) continue;
    rest.unshift(op);
  }
  return rest;
}

function affineMap(op: Op): ScaleShift | null {
  if (op.kind === 'scaleShift') return op;
  if (op.kind === 'standardize') return standardizationAsScaleShift(op.mean, op.std);
  return null;
}

/** Folds the map into the first layer of `rest` when that is exact; mutates `rest` and returns true if it did. */
function absorbInto(map: ScaleShift, rest: Op[]): boolean {
  const index = rest[0]?.kind === 'flatten' ? 1 : 0;
  const next = rest[index];
  if (next?.kind === 'dense') {
    rest[index] = { ...next, ...foldScaleShiftIntoNextDense(map, next) };
    return true;
  }
  if (next?.kind === 'conv' && index === 0 && next.padding === 'valid') {
    rest[index] = { ...next, ...foldScaleShiftIntoNextConv(map, next) };
    return true;
  }
  return false;
}
