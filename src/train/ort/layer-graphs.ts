// Each supported layer as ONNX nodes: its training-mode forward pass, and a function that adds its
// backward pass (the gradients of its weights, and of its input when asked) once the gradient of its
// output is known. Every formula is the one tfjs-layers and tfjs-core's autodiff compute.
import type { LayerSpec } from '../config.ts';
import type { GraphBuilder } from '../../export/onnx/graph-builder.ts';
import { INT64 } from '../../export/onnx/helpers.ts';
import { movingInput, movingOutput, paramInput, type WeightInfo } from './graph-names.ts';

export type Backward = (dy: string, needInputGradient: boolean) => string | null;

export interface Builder {
  g: GraphBuilder;
  params: WeightInfo[];
  moving: WeightInfo[];
  grads: Map<string, string>;
  outputs: string[];
  axis0: string;
  axisLast: string;
}

export function int64(g: GraphBuilder, base: string, values: number[]): string {
  const name = g.unique(base);
  const bytes = new Uint8Array(new BigInt64Array(values.map(BigInt)).buffer);
  g.initializers.push({ name, dims: [values.length], dataType: INT64, rawData: bytes });
  return name;
}

/** A node whose output has a fixed name (a graph output). */
export function output(b: Builder, opType: string, inputs: string[], name: string): void {
  b.g.nodes.push({ opType, input: inputs, output: [name], name, attribute: [] });
  b.outputs.push(name);
}

export function scalar(g: GraphBuilder, base: string, value: number): string {
  return g.constant(base, [], [value]);
}

export function param(b: Builder, name: string, shape: number[]): string {
  b.params.push({ name, shape });
  return paramInput(name);
}

export function dense(b: Builder, x: string, inputs: number, units: number, name: string, useBias: boolean): { y: string; back: Backward } {
  const { g } = b;
  const w = param(b, `${name}/kernel`, [inputs, units]);
  const bias = useBias ? param(b, `${name}/bias`, [units]) : null;
  const y = bias ? g.node('Gemm', [x, w, bias], `${name}/y`) : g.node('MatMul', [x, w], `${name}/y`);
  const back: Backward = (dy, needInputGradient) => {
    b.grads.set(`${name}/kernel`, g.node('Gemm', [x, dy], `${name}/d_kernel`, { transA: { int: 1 } }));
    if (bias) b.grads.set(`${name}/bias`, g.node('ReduceSum', [dy, b.axis0], `${name}/d_bias`, { keepdims: { int: 0 } }));
    return needInputGradient ? g.node('Gemm', [dy, w], `${name}/d_x`, { transB: { int: 1 } }) : null;
  };
  return { y, back };
}

export function batchNorm(
  b: Builder,
  x: string,
  channels: number,
  name: string,
  spec: Extract<LayerSpec, { type: 'batchNormalization' }>,
): { y: string; back: Backward } {
  const { g } = b;
  const mean0 = { axes: { ints: [0] }, keepdims: { int: 0 } };
  const gamma = spec.scale ? param(b, `${name}/gamma`, [channels]) : null;
  const beta = spec.center ? param(b, `${name}/beta`, [channels]) : null;
  // Batch moments as tf.moments: mean, then the biased variance (mean of squared deviations).
  const mean = g.node('ReduceMean', [x], `${name}/mean`, mean0);
  const centered = g.node('Sub', [x, mean], `${name}/centered`);
  const variance = g.node('ReduceMean', [g.node('Mul', [centered, centered], `${name}/sq`)], `${name}/variance`, mean0);
  const invStd = g.node(
    'Reciprocal',
    [g.node('Sqrt', [g.node('Add', [variance, scalar(g, `${name}/epsilon`, spec.epsilon)], `${name}/var_eps`)], `${name}/std`)],
    `${name}/inv_std`,
  );
  const normalized = g.node('Mul', [centered, invStd], `${name}/normalized`);
  let y = gamma ? g.node('Mul', [normalized, gamma], `${name}/scaled`) : normalized;
  if (beta) y = g.node('Add', [y, beta], `${name}/y`);

  // moving ← moving − (moving − batch)·(1 − momentum), as tfjs-layers writes it.
  const decay = scalar(g, `${name}/decay`, 1 - spec.momentum);
  for (const [stat, batch] of [
    ['moving_mean', mean],
    ['moving_variance', variance],
  ] as const) {
    const weight = `${name}/${stat}`;
    b.moving.push({ name: weight, shape: [channels] });
    const old = movingInput(weight);
    const delta = g.node('Mul', [g.node('Sub', [old, batch], `${weight}/diff`), decay], `${weight}/delta`);
    output(b, 'Sub', [old, delta], movingOutput(weight));
  }

  const back: Backward = (dy, needInputGradient) => {
    if (beta) b.grads.set(`${name}/beta`, g.node('ReduceSum', [dy, b.axis0], `${name}/d_beta`, { keepdims: { int: 0 } }));
    if (gamma) {
      const product = g.node('Mul', [dy, normalized], `${name}/dy_xhat`);
      b.grads.set(`${name}/gamma`, g.node('ReduceSum', [product, b.axis0], `${name}/d_gamma`, { keepdims: { int: 0 } }));
    }
    if (!needInputGradient) return null;
    // dx = (dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) / σ, the full gradient through the batch moments.
    const dxhat = gamma ? g.node('Mul', [dy, gamma], `${name}/d_xhat`) : dy;
    const meanDxhat = g.node('ReduceMean', [dxhat], `${name}/mean_d_xhat`, mean0);
    const meanDxhatXhat = g.node(
      'ReduceMean',
      [g.node('Mul', [dxhat, normalized], `${name}/d_xhat_xhat`)],
      `${name}/mean_d_xhat_xhat`,
      mean0,
    );
    const inner = g.node(
      'Sub',
      [g.node('Sub', [dxhat, meanDxhat], `${name}/d_centered`), g.node('Mul', [normalized, meanDxhatXhat], `${name}/proj`)],
      `${name}/d_inner`,
    );
    return g.node('Mul', [inner, invStd], `${name}/d_x`);
  };
  return { y, back };
}

export function activation(b: Builder, x: string, kind: string, name: string): { y: string; back: Backward } {
  const { g } = b;
  switch (kind) {
    case 'linear':
      return { y: x, back: (dy) => dy };
    case 'relu': {
      const y = g.node('Relu', [x], `${name}/relu`);
      // tfjs: dy·step(x), step(0) = 0.
      const zero = scalar(g, `${name}/zero`, 0);
      return { y, back: (dy) => g.node('Where', [g.node('Greater', [x, zero], `${name}/positive`), dy, zero], `${name}/d_relu`) };
    }
    case 'sigmoid': {
      const y = g.node('Sigmoid', [x], `${name}/sigmoid`);
      const one = scalar(g, `${name}/one`, 1);
      return {
        y,
        back: (dy) =>
          g.node('Mul', [dy, g.node('Mul', [y, g.node('Sub', [one, y], `${name}/one_minus_y`)], `${name}/dsig`)], `${name}/d_sigmoid`),
      };
    }
    case 'tanh': {
      const y = g.node('Tanh', [x], `${name}/tanh`);
      const one = scalar(g, `${name}/one`, 1);
      return {
        y,
        back: (dy) => g.node('Mul', [dy, g.node('Sub', [one, g.node('Mul', [y, y], `${name}/y2`)], `${name}/dtanh`)], `${name}/d_tanh`),
      };
    }
    case 'softmax': {
      const y = g.node('Softmax', [x], `${name}/softmax`, { axis: { int: -1 } });
      const back: Backward = (dy) => {
        const dot = g.node('ReduceSum', [g.node('Mul', [dy, y], `${name}/dy_y`), b.axisLast], `${name}/dot`, { keepdims: { int: 1 } });
        return g.node('Mul', [y, g.node('Sub', [dy, dot], `${name}/dy_minus`)], `${name}/d_softmax`);
      };
      return { y, back };
    }
    default:
      throw new Error(`activation ${kind} has no training graph`);
  }
}
