import * as tf from '@tensorflow/tfjs';
import type { InitializerName, LayerSpec, RegularizerSpec } from './config.ts';
import { effectiveL2 } from './config.ts';

export interface ModelOptions {
  inputShape: number[];
  task: 'classification' | 'regression';
  /** Classes (classification) or 1 (regression). */
  outputUnits: number;
  seed: number;
  /** The output layer's kernel initialiser (default glorotUniform) and regulariser. */
  output?: { kernelInitializer?: InitializerName; kernelRegularizer?: RegularizerSpec };
  /** Regulariser for every Dense/Conv kernel that does not set its own (the output layer's included). */
  defaultRegularizer?: RegularizerSpec;
}

/** Name of the output layer the trainer adds. */
export const OUTPUT_LAYER = 'output';

const layerKind: Record<LayerSpec['type'], string> = {
  dense: 'dense',
  conv2d: 'conv2d',
  maxPool2d: 'max_pooling2d',
  avgPool2d: 'average_pooling2d',
  batchNormalization: 'batch_normalization',
  activation: 'activation',
  dropout: 'dropout',
  flatten: 'flatten',
};

/** Deterministic layer names, so checkpoints map weights by layer and never by a global counter. */
export function layerName(spec: LayerSpec, index: number): string {
  return `${layerKind[spec.type]}_${index}`;
}

function regularizer(spec: RegularizerSpec | undefined) {
  if (!spec) return undefined;
  const l2 = effectiveL2(spec);
  if (spec.l1 === 0 && l2 === 0) return undefined;
  return tf.regularizers.l1l2({ l1: spec.l1, l2 });
}

function initializer(name: InitializerName | undefined, seed: number) {
  switch (name ?? 'glorotUniform') {
    case 'zeros':
      return tf.initializers.zeros();
    case 'glorotNormal':
      return tf.initializers.glorotNormal({ seed });
    case 'heUniform':
      return tf.initializers.heUniform({ seed });
    case 'heNormal':
      return tf.initializers.heNormal({ seed });
    case 'glorotUniform':
      return tf.initializers.glorotUniform({ seed });
  }
}

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

function createLayer(spec: LayerSpec, index: number, seed: number, defaultRegularizer?: RegularizerSpec): tf.layers.Layer {
  const name = layerName(spec, index);
  switch (spec.type) {
    case 'dense':
      return tf.layers.dense({
        name,
        units: spec.units,
        activation: spec.activation,
        useBias: spec.useBias,
        kernelInitializer: initializer(spec.kernelInitializer, seed * 1000 + index),
        kernelRegularizer: regularizer(spec.kernelRegularizer ?? defaultRegularizer),
      });
    case 'conv2d':
      return tf.layers.conv2d({
        name,
        filters: spec.filters,
        kernelSize: pair(spec.kernelSize),
        strides: pair(spec.strides),
        padding: spec.padding,
        activation: spec.activation,
        useBias: spec.useBias,
        kernelInitializer: initializer(spec.kernelInitializer, seed * 1000 + index),
        kernelRegularizer: regularizer(spec.kernelRegularizer ?? defaultRegularizer),
      });
    case 'maxPool2d':
    case 'avgPool2d': {
      const args = {
        name,
        poolSize: pair(spec.poolSize),
        strides: spec.strides === undefined ? undefined : pair(spec.strides),
        padding: spec.padding,
      };
      return spec.type === 'maxPool2d' ? tf.layers.maxPooling2d(args) : tf.layers.averagePooling2d(args);
    }
    case 'batchNormalization':
      return tf.layers.batchNormalization({
        name,
        momentum: spec.momentum,
        epsilon: spec.epsilon,
        center: spec.center,
        scale: spec.scale,
      });
    case 'activation':
      return tf.layers.activation({ name, activation: spec.activation });
    case 'dropout':
      return tf.layers.dropout({ name, rate: spec.rate, seed: seed * 1000 + index });
    case 'flatten':
      return tf.layers.flatten({ name });
  }
}

export function buildModel(layers: LayerSpec[], options: ModelOptions): tf.Sequential {
  const model = tf.sequential({ name: 'bnserve' });
  model.add(tf.layers.inputLayer({ name: 'input', inputShape: options.inputShape }));
  for (const [index, spec] of layers.entries()) model.add(createLayer(spec, index, options.seed, options.defaultRegularizer));
  const lastShape = model.outputs[0].shape;
  if (lastShape.length > 2) model.add(tf.layers.flatten({ name: 'flatten_head' }));
  model.add(
    tf.layers.dense({
      name: OUTPUT_LAYER,
      units: options.outputUnits,
      activation: options.task === 'classification' ? 'softmax' : 'linear',
      kernelInitializer: initializer(options.output?.kernelInitializer, options.seed * 1000 + layers.length),
      kernelRegularizer: regularizer(options.output?.kernelRegularizer ?? options.defaultRegularizer),
    }),
  );
  return model;
}

export function hasBatchNorm(layers: LayerSpec[]): boolean {
  return layers.some((layer) => layer.type === 'batchNormalization');
}

export function hasConv(layers: LayerSpec[]): boolean {
  return layers.some((layer) => layer.type === 'conv2d');
}
