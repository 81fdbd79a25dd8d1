// Lowers the op chain (tfjs NHWC semantics) to an ONNX graph. Image inputs stay NHWC at the graph
// boundary and are transposed to NCHW once, before the first layer that needs it.
import type { Activation } from '../../checkpoint/index.ts';
import type { Op } from '../ops.ts';
import { outputShape } from '../ops.ts';
import { GraphBuilder } from './graph-builder.ts';
import { FLOAT, makeGraph, makeModel, makeTensorValueInfo, type ModelOptions } from './helpers.ts';
import { convKernelToOnnx, nchwFlattenToNhwc, permuteRows, samePadding } from './layout.ts';
import type { OnnxTypes } from './proto.ts';

export const INPUT_NAME = 'input';

type Layout = 'flat' | 'nhwc' | 'nchw';

interface State {
  value: string;
  layout: Layout;
  /** tfjs shape without batch: [F] or [H, W, C]. */
  shape: number[];
  /** Set when an NCHW tensor was flattened: the next Dense's rows are reordered to tfjs's NHWC order. */
  pendingRowOrder: Int32Array | null;
}

export interface GraphOptions extends ModelOptions {
  inputShape: number[];
  outputName: string;
}

export function buildOnnxModel(ops: readonly Op[], options: GraphOptions): OnnxTypes.IModelProto {
  const g = new GraphBuilder([INPUT_NAME, options.outputName]);
  let state: State = {
    value: INPUT_NAME,
    layout: options.inputShape.length === 1 ? 'flat' : 'nhwc',
    shape: options.inputShape,
    pendingRowOrder: null,
  };
  ops.forEach((op, index) => {
    state = lowerOp(g, op, state, ops.slice(index + 1));
  });
  if (state.shape.length !== 1) throw new Error(`the graph ends with shape [${state.shape.join(', ')}], expected a flat output`);
  g.renameFinalOutput(state.value, options.outputName);

  const graph = makeGraph(
    'bnserve',
    g.nodes,
    [makeTensorValueInfo(INPUT_NAME, FLOAT, ['batch', ...options.inputShape])],
    [makeTensorValueInfo(options.outputName, FLOAT, ['batch', state.shape[0]])],
    g.initializers,
  );
  return makeModel(graph, options);
}

function lowerOp(g: GraphBuilder, op: Op, state: State, following: readonly Op[]): State {
  const shape = outputShape(op, state.shape);
  const next = (value: string, layout: Layout = state.layout): State => ({ value, layout, shape, pendingRowOrder: null });
  const channels = state.shape[state.shape.length - 1];
  const perChannel = (suffix: string, values: ArrayLike<number>): string =>
    g.constant(`${op.name}/${suffix}`, state.layout === 'nchw' ? [channels, 1, 1] : [channels], values);

  switch (op.kind) {
    case 'standardize': {
      const centered = g.node('Sub', [state.value, perChannel('mean', op.mean)], `${op.name}/centered`);
      return next(g.node('Div', [centered, perChannel('std', op.std)], `${op.name}/out`));
    }
    case 'scaleShift': {
      const scaled = g.node('Mul', [state.value, perChannel('scale', op.scale)], `${op.name}/scaled`);
      return next(g.node('Add', [scaled, perChannel('shift', op.shift)], `${op.name}/out`));
    }
    case 'batchNorm': {
      const input = state.layout === 'nhwc' ? toNchw(g, state.value, op.name) : state.value;
      const params = (['gamma', 'beta', 'moving_mean', 'moving_variance'] as const).map((w, i) =>
        g.constant(`${op.name}/${w}`, [channels], [op.bn.gamma, op.bn.beta, op.bn.movingMean, op.bn.movingVariance][i]),
      );
      const out = g.node('BatchNormalization', [input, ...params], `${op.name}/out`, { epsilon: { float: op.bn.epsilon } });
      return next(out, state.layout === 'flat' ? 'flat' : 'nchw');
    }
    case 'dense': {
      const kernel = state.pendingRowOrder ? permuteRows(op.kernel, op.units, state.pendingRowOrder) : op.kernel;
      const inputs = [state.value, g.constant(`${op.name}/kernel`, [op.inUnits, op.units], kernel)];
      if (op.bias) inputs.push(g.constant(`${op.name}/bias`, [op.units], op.bias));
      return next(g.node('Gemm', inputs, `${op.name}/out`));
    }
    case 'conv': {
      const input = state.layout === 'nhwc' ? toNchw(g, state.value, op.name) : state.value;
      const [kh, kw] = op.kernelSize;
      const weight = convKernelToOnnx(op.kernel, kh, kw, op.inChannels, op.filters);
      const inputs = [input, g.constant(`${op.name}/kernel`, [op.filters, op.inChannels, kh, kw], weight)];
      if (op.bias) inputs.push(g.constant(`${op.name}/bias`, [op.filters], op.bias));
      const window: [number, number] = [(kh - 1) * op.dilations[0] + 1, (kw - 1) * op.dilations[1] + 1];
      const out = g.node('Conv', inputs, `${op.name}/out`, {
        kernel_shape: { ints: [kh, kw] },
        strides: { ints: op.strides },
        dilations: { ints: op.dilations },
        pads: { ints: pads(state.shape, window, op.strides, op.padding) },
      });
      return next(out, 'nchw');
    }
    case 'pool': {
      const input = state.layout === 'nhwc' ? toNchw(g, state.value, op.name) : state.value;
      const attributes = {
        kernel_shape: { ints: op.poolSize },
        strides: { ints: op.strides },
        pads: { ints: pads(state.shape, op.poolSize, op.strides, op.padding) },
        // TensorFlow averages over the cells inside the input only.
        ...(op.type === 'avg' ? { count_include_pad: { int: 0 } } : {}),
      };
      return next(g.node(op.type === 'max' ? 'MaxPool' : 'AveragePool', [input], `${op.name}/out`, attributes), 'nchw');
    }
    case 'flatten': {
      if (state.shape.length === 1) return { ...state };
      if (state.layout === 'nhwc') return next(g.node('Flatten', [state.value], `${op.name}/out`, { axis: { int: 1 } }), 'flat');
      const consumer = following.find((o) => o.kind !== 'activation');
      if (consumer?.kind === 'dense') {
        const [h, w, c] = state.shape;
        const out = g.node('Flatten', [state.value], `${op.name}/out`, { axis: { int: 1 } });
        return { ...next(out, 'flat'), pendingRowOrder: nchwFlattenToNhwc(h, w, c) };
      }
      const nhwc = g.node('Transpose', [state.value], `${op.name}/nhwc`, { perm: { ints: [0, 2, 3, 1] } });
      return next(g.node('Flatten', [nhwc], `${op.name}/out`, { axis: { int: 1 } }), 'flat');
    }
    case 'activation':
      // Elementwise (softmax: over the channel axis), so a pending row order carries through.
      return { ...next(activation(g, op.activation, state, op.name)), pendingRowOrder: state.pendingRowOrder };
  }
}

function toNchw(g: GraphBuilder, value: string, name: string): string {
  return g.node('Transpose', [value], `${name}/nchw`, { perm: { ints: [0, 3, 1, 2] } });
}

/** ONNX pads [top, left, bottom, right] reproducing TensorFlow's 'same'/'valid'. */
function pads(shape: number[], window: [number, number], strides: [number, number], padding: 'same' | 'valid'): number[] {
  if (padding === 'valid') return [0, 0, 0, 0];
  const [top, bottom] = samePadding(shape[0], window[0], strides[0]);
  const [left, right] = samePadding(shape[1], window[1], strides[1]);
  return [top, left, bottom, right];
}

function activation(g: GraphBuilder, fn: Activation, state: State, name: string): string {
  const x = state.value;
  const out = `${name}/${fn}`;
  switch (fn) {
    case 'linear':
      return g.node('Identity', [x], out);
    case 'relu':
      return g.node('Relu', [x], out);
    case 'relu6':
      return g.node('Clip', [x, g.constant(`${name}/clip_min`, [], [0]), g.constant(`${name}/clip_max`, [], [6])], out);
    case 'sigmoid':
      return g.node('Sigmoid', [x], out);
    case 'tanh':
      return g.node('Tanh', [x], out);
    case 'elu':
      return g.node('Elu', [x], out, { alpha: { float: 1 } });
    case 'softplus':
      return g.node('Softplus', [x], out);
    case 'softsign':
      return g.node('Softsign', [x], out);
    case 'selu':
      // tfjs uses the same constants as ONNX's defaults (Klambauer et al.).
      return g.node('Selu', [x], out);
    case 'hardSigmoid':
      return g.node('HardSigmoid', [x], out, { alpha: { float: 0.2 }, beta: { float: 0.5 } });
    case 'swish':
      return g.node('Mul', [x, g.node('Sigmoid', [x], `${name}/sigmoid`)], out);
    case 'softmax':
      return g.node('Softmax', [x], out, { axis: { int: state.layout === 'nchw' ? 1 : -1 } });
  }
}
