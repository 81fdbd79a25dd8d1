// The exporter's intermediate form: a chain of inference ops in tfjs (NHWC) semantics, float64
// parameters, every shape checked. Folding rewrites this chain; lowering turns it into ONNX.
import type { Activation, Checkpoint, CheckpointLayer, Padding } from '../checkpoint/index.ts';
import { ExportError } from './errors.ts';
import type { BnParams } from './fold.ts';

export type Op =
  | { kind: 'standardize'; name: string; mean: Float64Array; std: Float64Array }
  | { kind: 'dense'; name: string; kernel: Float64Array; bias: Float64Array | null; inUnits: number; units: number }
  | {
      kind: 'conv';
      name: string;
      kernel: Float64Array;
      bias: Float64Array | null;
      kernelSize: [number, number];
      inChannels: number;
      filters: number;
      strides: [number, number];
      dilations: [number, number];
      padding: Padding;
    }
  | { kind: 'batchNorm'; name: string; bn: BnParams }
  | { kind: 'scaleShift'; name: string; scale: Float64Array; shift: Float64Array }
  | { kind: 'activation'; name: string; activation: Activation }
  | { kind: 'pool'; name: string; type: 'max' | 'avg'; poolSize: [number, number]; strides: [number, number]; padding: Padding }
  | { kind: 'flatten'; name: string };

/** Shapes exclude the batch dimension: [F] or [H, W, C]. */
export function outputShape(op: Op, input: number[]): number[] {
  const fail = (why: string): never => {
    throw new ExportError(`layer ${op.name}: ${why} (input shape [${input.join(', ')}])`);
  };
  const channels = input[input.length - 1];
  switch (op.kind) {
    case 'standardize':
    case 'batchNorm':
    case 'scaleShift': {
      const n = op.kind === 'standardize' ? op.mean.length : op.kind === 'batchNorm' ? op.bn.gamma.length : op.scale.length;
      if (n !== channels) fail(`${n} per-channel parameters for ${channels} channels`);
      return input;
    }
    case 'activation':
      return input;
    case 'dense':
      if (input.length !== 1) fail('Dense needs a flat input; add a Flatten layer before it');
      if (input[0] !== op.inUnits) fail(`the kernel expects ${op.inUnits} inputs`);
      return [op.units];
    case 'conv': {
      if (input.length !== 3) fail('Conv2D needs an [H, W, C] input');
      if (channels !== op.inChannels) fail(`the kernel expects ${op.inChannels} input channels`);
      const effective = op.kernelSize.map((k, i) => (k - 1) * op.dilations[i] + 1) as [number, number];
      return [...spatialOutput(input, effective, op.strides, op.padding, fail), op.filters];
    }
    case 'pool':
      if (input.length !== 3) fail('pooling needs an [H, W, C] input');
      return [...spatialOutput(input, op.poolSize, op.strides, op.padding, fail), channels];
    case 'flatten':
      return [input.reduce((a, b) => a * b, 1)];
  }
}

/** tfjs/TensorFlow output size: 'same' → ceil(in/stride); 'valid' → ceil((in − window + 1)/stride). */
function spatialOutput(
  input: number[],
  window: [number, number],
  strides: [number, number],
  padding: Padding,
  fail: (why: string) => never,
): [number, number] {
  const out = [0, 1].map((i) =>
    padding === 'same' ? Math.ceil(input[i] / strides[i]) : Math.ceil((input[i] - window[i] + 1) / strides[i]),
  ) as [number, number];
  if (out[0] <= 0 || out[1] <= 0) fail(`the window [${window.join(', ')}] is larger than the input`);
  return out;
}

/** Builds the checked op chain: standardisation first (unless it is the identity), Dropout and linear activations dropped. */
export function opsFromCheckpoint(checkpoint: Checkpoint): Op[] {
  const { preprocessing } = checkpoint;
  const identity = preprocessing.mean.every((m) => m === 0) && preprocessing.std.every((s) => s === 1);
  const ops: Op[] = identity
    ? []
    : [
        {
          kind: 'standardize',
          name: 'standardize',
          mean: Float64Array.from(preprocessing.mean),
          std: Float64Array.from(preprocessing.std),
        },
      ];
  let shape = ops.length > 0 ? outputShape(ops[0], checkpoint.inputShape) : checkpoint.inputShape;
  for (const layer of checkpoint.layers) {
    for (const op of layerOps(layer, shape)) {
      shape = outputShape(op, shape);
      ops.push(op);
    }
  }
  if (shape.length !== 1) {
    throw new ExportError(`the model's output has shape [batch, ${shape.join(', ')}]; expected [batch, units] (add a Flatten layer)`);
  }
  const expected = preprocessing.task === 'classification' ? preprocessing.classLabels.length : 1;
  if (shape[0] !== expected) {
    throw new ExportError(`the model has ${shape[0]} outputs but preprocessing.json expects ${expected} (${preprocessing.task})`);
  }
  return ops;
}

function layerOps(layer: CheckpointLayer, input: number[]): Op[] {
  const withActivation = (op: Op, activation: Activation): Op[] =>
    activation === 'linear' ? [op] : [op, { kind: 'activation', name: layer.name, activation }];
  switch (layer.kind) {
    case 'dense':
      return withActivation(
        { kind: 'dense', name: layer.name, kernel: layer.kernel, bias: layer.bias, inUnits: layer.kernelShape[0], units: layer.units },
        layer.activation,
      );
    case 'conv2d':
      return withActivation(
        {
          kind: 'conv',
          name: layer.name,
          kernel: layer.kernel,
          bias: layer.bias,
          kernelSize: layer.kernelSize,
          inChannels: layer.kernelShape[2],
          filters: layer.filters,
          strides: layer.strides,
          dilations: layer.dilations,
          padding: layer.padding,
        },
        layer.activation,
      );
    case 'batchNormalization':
      if (layer.axis !== -1 && layer.axis !== input.length) {
        throw new ExportError(`layer ${layer.name}: BatchNormalization over axis ${layer.axis} is not supported, only the last axis`);
      }
      return [
        {
          kind: 'batchNorm',
          name: layer.name,
          bn: {
            gamma: layer.gamma,
            beta: layer.beta,
            movingMean: layer.movingMean,
            movingVariance: layer.movingVariance,
            epsilon: layer.epsilon,
          },
        },
      ];
    case 'pool':
      return [
        { kind: 'pool', name: layer.name, type: layer.type, poolSize: layer.poolSize, strides: layer.strides, padding: layer.padding },
      ];
    case 'flatten':
      return [{ kind: 'flatten', name: layer.name }];
    case 'activation':
      return layer.activation === 'linear' ? [] : [{ kind: 'activation', name: layer.name, activation: layer.activation }];
    case 'dropout':
      return [];
  }
}
