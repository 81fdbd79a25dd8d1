// How far a BN node's frozen statistics are from the batch statistics of what reaches it (channels on
// axis 1, ONNX's layout), with the trainer's BN guard measures (src/lib/bn.ts).
import { type BnLayerCheck, channelMoments, compareMoments } from '../../lib/bn.ts';
import type { BnParams } from '../fold.ts';
import type { TensorData } from './run-graph.ts';

export type BnDrift = BnLayerCheck;

export function bnDrift(name: string, bn: BnParams, input: TensorData): BnDrift {
  const inner = input.dims.slice(2).reduce((a, b) => a * b, 1);
  const batch = channelMoments(Float64Array.from(input.data as ArrayLike<number>), bn.gamma.length, inner);
  return compareMoments(name, { mean: bn.movingMean, variance: bn.movingVariance }, batch, bn.epsilon);
}
