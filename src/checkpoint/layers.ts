// The layers of a tfjs Sequential topology, typed, with their weights taken from the weight table.
import { BN_LAYER_DEFAULTS } from '../lib/bn.ts';
import { ownValue } from '../lib/own-value.ts';
import { CheckpointError } from './errors.ts';
import type { LayerJson } from './schemas.ts';
import type { WeightTable } from './weights.ts';

export type Activation =
  | 'linear'
  | 'relu'
  | 'relu6'
  | 'sigmoid'
  | 'tanh'
  | 'elu'
  | 'softplus'
  | 'softmax'
  | 'selu'
  | 'softsign'
  | 'hardSigmoid'
  | 'swish';

const ACTIVATIONS: Record<string, Activation> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  sigmoid: 'sigmoid',
  tanh: 'tanh',
  elu: 'elu',
  softplus: 'softplus',
  softmax: 'softmax',
  selu: 'selu',
  softsign: 'softsign',
  hardSigmoid: 'hardSigmoid',
  hard_sigmoid: 'hardSigmoid',
  swish: 'swish',
};

export type Padding = 'same' | 'valid';

export type CheckpointLayer =
  | {
      kind: 'dense';
      name: string;
      units: number;
      activation: Activation;
      kernel: Float64Array;
      kernelShape: number[];
      bias: Float64Array | null;
    }
  | {
      kind: 'conv2d';
      name: string;
      filters: number;
      kernelSize: [number, number];
      strides: [number, number];
      dilations: [number, number];
      padding: Padding;
      activation: Activation;
      kernel: Float64Array;
      kernelShape: number[];
      bias: Float64Array | null;
    }
  | {
      kind: 'batchNormalization';
      name: string;
      epsilon: number;
      /** -1, or the positive index of the last axis (batch included); checked against the input rank later. */
      axis: number;
      gamma: Float64Array;
      beta: Float64Array;
      movingMean: Float64Array;
      movingVariance: Float64Array;
    }
  | { kind: 'pool'; name: string; type: 'max' | 'avg'; poolSize: [number, number]; strides: [number, number]; padding: Padding }
  | { kind: 'flatten'; name: string }
  | { kind: 'activation'; name: string; activation: Activation }
  | { kind: 'dropout'; name: string };

function takeWeight(weights: WeightTable, layer: string, weight: string, shape: number[] | null): Float64Array {
  const entry = weights.get(`${layer}/${weight}`);
  if (!entry) throw new CheckpointError(`layer ${layer}: weight ${layer}/${weight} is missing from the manifest`);
  if (shape && (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i]))) {
    throw new CheckpointError(`layer ${layer}: ${weight} has shape [${entry.shape.join(', ')}], expected [${shape.join(', ')}]`);
  }
  return entry.values;
}

function weightShape(weights: WeightTable, layer: string, weight: string): number[] {
  const entry = weights.get(`${layer}/${weight}`);
  if (!entry) throw new CheckpointError(`layer ${layer}: weight ${layer}/${weight} is missing from the manifest`);
  return entry.shape;
}

export function parseLayer(layer: LayerJson, weights: WeightTable): CheckpointLayer {
  const c = layer.config ?? {};
  const name = String(c.name ?? '');
  if (!name) throw new CheckpointError(`a ${layer.class_name} layer has no name`);
  const fail = (why: string): never => {
    throw new CheckpointError(`layer ${name} (${layer.class_name}): ${why}`);
  };
  if (c.data_format === 'channels_first') fail('channels_first is not supported (tfjs default is channels_last)');

  switch (layer.class_name) {
    case 'Dense': {
      const units = positiveInt(c.units, 'units', fail);
      const kernelShape = weightShape(weights, name, 'kernel');
      if (kernelShape.length !== 2 || kernelShape[1] !== units)
        fail(`kernel shape [${kernelShape.join(', ')}] does not match ${units} units`);
      const kernel = takeWeight(weights, name, 'kernel', null);
      const bias = c.use_bias === false ? null : takeWeight(weights, name, 'bias', [units]);
      return { kind: 'dense', name, units, activation: activation(c.activation, fail), kernel, kernelShape, bias };
    }
    case 'Conv2D': {
      const filters = positiveInt(c.filters, 'filters', fail);
      const kernelSize = pair(c.kernel_size, 'kernel_size', fail);
      const kernelShape = weightShape(weights, name, 'kernel');
      if (kernelShape.length !== 4 || kernelShape[0] !== kernelSize[0] || kernelShape[1] !== kernelSize[1] || kernelShape[3] !== filters) {
        fail(`kernel shape [${kernelShape.join(', ')}] does not match kernel_size/filters`);
      }
      const kernel = takeWeight(weights, name, 'kernel', null);
      const bias = c.use_bias === false ? null : takeWeight(weights, name, 'bias', [filters]);
      return {
        kind: 'conv2d',
        name,
        filters,
        kernelSize,
        strides: pair(c.strides ?? 1, 'strides', fail),
        dilations: pair(c.dilation_rate ?? 1, 'dilation_rate', fail),
        padding: padding(c.padding, fail),
        activation: activation(c.activation, fail),
        kernel,
        kernelShape,
        bias,
      };
    }
    case 'BatchNormalization': {
      const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : (c.axis ?? -1);
      if (axis !== -1 && !(Number.isInteger(axis) && (axis as number) > 0)) fail(`axis ${JSON.stringify(c.axis)} is not supported`);
      const epsilon = Number(c.epsilon ?? BN_LAYER_DEFAULTS.epsilon);
      if (!(epsilon >= 0)) fail(`invalid epsilon ${String(c.epsilon)}`);
      const movingMean = takeWeight(weights, name, 'moving_mean', null);
      const n = movingMean.length;
      const movingVariance = takeWeight(weights, name, 'moving_variance', [n]);
      const gamma = c.scale === false ? new Float64Array(n).fill(1) : takeWeight(weights, name, 'gamma', [n]);
      const beta = c.center === false ? new Float64Array(n) : takeWeight(weights, name, 'beta', [n]);
      if (movingVariance.some((v) => v < 0)) fail('moving_variance has negative entries');
      return { kind: 'batchNormalization', name, epsilon, axis: axis as number, gamma, beta, movingMean, movingVariance };
    }
    case 'MaxPooling2D':
    case 'MaxPool2D':
    case 'AveragePooling2D':
    case 'AvgPool2D': {
      const poolSize = pair(c.pool_size ?? 2, 'pool_size', fail);
      return {
        kind: 'pool',
        name,
        type: layer.class_name.startsWith('Max') ? 'max' : 'avg',
        poolSize,
        strides: c.strides == null ? poolSize : pair(c.strides, 'strides', fail),
        padding: padding(c.padding ?? 'valid', fail),
      };
    }
    case 'Flatten':
      return { kind: 'flatten', name };
    case 'Activation':
      return { kind: 'activation', name, activation: activation(c.activation, fail) };
    case 'Dropout':
      return { kind: 'dropout', name };
    default:
      return fail(
        'unsupported layer type (supported: Dense, Conv2D, BatchNormalization, MaxPooling2D, AveragePooling2D, Flatten, Activation, Dropout)',
      );
  }
}

function positiveInt(x: unknown, what: string, fail: (why: string) => never): number {
  if (typeof x !== 'number' || !Number.isInteger(x) || x <= 0) fail(`${what} must be a positive integer`);
  return x as number;
}

function pair(x: unknown, what: string, fail: (why: string) => never): [number, number] {
  const values = typeof x === 'number' ? [x, x] : x;
  if (!Array.isArray(values) || values.length !== 2 || !values.every((v) => Number.isInteger(v) && v > 0)) {
    fail(`${what} must be a positive integer or a pair of them`);
  }
  return [(values as number[])[0], (values as number[])[1]];
}

function padding(x: unknown, fail: (why: string) => never): Padding {
  if (x !== 'same' && x !== 'valid') fail(`padding ${JSON.stringify(x)} is not supported (same or valid)`);
  return x as Padding;
}

function activation(x: unknown, fail: (why: string) => never): Activation {
  const name = x == null ? 'linear' : String(x);
  const known = ownValue(ACTIVATIONS, name);
  if (!known) fail(`activation ${name} is not supported (supported: ${Object.keys(ACTIVATIONS).join(', ')})`);
  return known;
}
