// One ONNX graph for the forward and backward pass of a dense net's training step: forward pass in
// training mode, softmax cross-entropy, the backward pass written out by hand and the BN
// moving-statistics update, so that onnxruntime runs it with its multi-threaded kernels. It outputs
// the loss, every weight's gradient and the new moving statistics; Adam runs outside the graph
// (./adam-memory.ts). Every formula mirrors what tfjs (layers + core autodiff) computes; names follow
// the tfjs weights (dense_0/kernel).
import type { LayerSpec } from '../config.ts';
import { layerName, OUTPUT_LAYER } from '../model.ts';
import { GraphBuilder } from '../../export/onnx/graph-builder.ts';
import { FLOAT, makeAttribute, makeGraph, makeModel, makeTensorValueInfo } from '../../export/onnx/helpers.ts';
import type { OnnxTypes } from '../../export/onnx/proto.ts';
import { ACCURACY, FEED, gradientOutput, LOSS, movingInput, paramInput, type WeightInfo } from './graph-names.ts';
import { activation, batchNorm, type Backward, type Builder, dense, int64, output, scalar } from './layer-graphs.ts';

export const OPSET = 17;

export interface TrainingGraph {
  model: OnnxTypes.IModelProto;
  /** Trainable weights, in the order of their gradients. */
  params: WeightInfo[];
  /** BN moving statistics. */
  moving: WeightInfo[];
}

/** tfjs-layers' epsilon(): the clip of probabilities in categoricalCrossentropy. */
const PROBABILITY_CLIP = 1e-7;

export interface TrainingGraphOptions {
  layers: LayerSpec[];
  features: number;
  classes: number;
}

/** The training step of `layers` plus the softmax output layer buildModel adds. */
export function buildTrainingGraph(options: TrainingGraphOptions): TrainingGraph {
  const g = new GraphBuilder(Object.values(FEED));
  const b: Builder = { g, params: [], moving: [], grads: new Map(), outputs: [], axis0: '', axisLast: '' };
  b.axis0 = int64(g, 'axis0', [0]);
  b.axisLast = int64(g, 'axis_last', [-1]);
  const backs: Backward[] = [];
  let value: string = FEED.x;
  let width = options.features;
  for (const [index, spec] of options.layers.entries()) {
    const name = layerName(spec, index);
    switch (spec.type) {
      case 'dense': {
        const layer = dense(b, value, width, spec.units, name, spec.useBias);
        backs.push(layer.back);
        width = spec.units;
        value = layer.y;
        if (spec.activation !== 'linear') {
          const act = activation(b, value, spec.activation, `${name}/activation`);
          backs.push(act.back);
          value = act.y;
        }
        break;
      }
      case 'batchNormalization': {
        const layer = batchNorm(b, value, width, name, spec);
        backs.push(layer.back);
        value = layer.y;
        break;
      }
      case 'activation': {
        const act = activation(b, value, spec.activation, name);
        backs.push(act.back);
        value = act.y;
        break;
      }
      case 'dropout':
      case 'flatten':
        break;
      default:
        throw new Error(`layer type ${spec.type} has no training graph`);
    }
  }
  const head = dense(b, value, width, options.classes, OUTPUT_LAYER, true);
  backs.push(head.back);

  // categoricalCrossentropy on softmax probabilities, clipped as tfjs-layers clips them; the mean over rows.
  const probabilities = g.node('Softmax', [head.y], 'probabilities', { axis: { int: -1 } });
  const clipped = g.node(
    'Clip',
    [probabilities, scalar(g, 'clip_low', PROBABILITY_CLIP), scalar(g, 'clip_high', 1 - PROBABILITY_CLIP)],
    'clipped',
  );
  const perRow = g.node('ReduceSum', [g.node('Mul', [FEED.y, g.node('Log', [clipped], 'log_p')], 'y_log_p'), b.axisLast], 'row_sum', {
    keepdims: { int: 0 },
  });
  g.nodes.push({
    opType: 'Neg',
    input: [g.node('ReduceMean', [perRow], 'mean_sum', { keepdims: { int: 0 } })],
    output: [LOSS],
    name: LOSS,
    attribute: [],
  });

  const argmax = (value: string, base: string) => g.node('ArgMax', [value], base, { axis: { int: -1 }, keepdims: { int: 0 } });
  const hits = g.node('Cast', [g.node('Equal', [argmax(FEED.y, 'label'), argmax(probabilities, 'predicted')], 'hit')], 'hits', {
    to: { int: FLOAT },
  });
  g.nodes.push({
    opType: 'ReduceMean',
    input: [hits],
    output: [ACCURACY],
    name: ACCURACY,
    attribute: [makeAttribute('keepdims', { int: 0 })],
  });

  // d loss / d logits = (p − y)/rows (softmax and cross-entropy together).
  let gradient: string | null = g.node('Mul', [g.node('Sub', [probabilities, FEED.y], 'p_minus_y'), FEED.invBatch], 'd_logits');
  for (let i = backs.length - 1; i >= 0 && gradient; i--) gradient = backs[i](gradient, i > 0);

  for (const p of b.params) {
    const grad = b.grads.get(p.name);
    if (!grad) throw new Error(`no gradient for ${p.name}`);
    output(b, 'Identity', [grad], gradientOutput(p.name));
  }

  const info = (name: string, shape: Array<number | string>) => makeTensorValueInfo(name, FLOAT, shape);
  const inputs = [
    info(FEED.x, ['batch', options.features]),
    info(FEED.y, ['batch', options.classes]),
    info(FEED.invBatch, []),
    ...b.params.map((p) => info(paramInput(p.name), p.shape)),
    ...b.moving.map((s) => info(movingInput(s.name), s.shape)),
  ];
  const shapeOf = new Map<string, number[]>([...b.params, ...b.moving].map((w) => [w.name, w.shape]));
  const outputs = [
    info(LOSS, []),
    info(ACCURACY, []),
    ...b.outputs.map((name) => info(name, shapeOf.get(name.slice(name.indexOf(':') + 1)) ?? [])),
  ];
  const graph = makeGraph('bnserve_training_step', g.nodes, inputs, outputs, g.initializers);
  return {
    model: makeModel(graph, { opset: OPSET, irVersion: 8, producerName: 'bnserve', producerVersion: '0', metadata: {} }),
    params: b.params,
    moving: b.moving,
  };
}
