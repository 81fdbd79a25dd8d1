// A direct float64 interpreter of the exporter's op chain (tfjs NHWC semantics), used as the
// ground truth for the folding tests. Deliberately naive: loops straight from the definitions.
import type { Op } from '../../src/export/ops.ts';

export interface Tensor {
  shape: number[];
  data: Float64Array;
}

export function evaluateOps(ops: readonly Op[], input: Tensor): Tensor {
  return ops.reduce((x, op) => evaluateOp(op, x), input);
}

function perChannel(x: Tensor, f: (v: number, c: number) => number): Tensor {
  const channels = x.shape[x.shape.length - 1];
  return { shape: x.shape, data: x.data.map((v, i) => f(v, i % channels)) };
}

function evaluateOp(op: Op, x: Tensor): Tensor {
  switch (op.kind) {
    case 'standardize':
      return perChannel(x, (v, c) => (v - op.mean[c]) / op.std[c]);
    case 'batchNorm': {
      const { gamma, beta, movingMean, movingVariance, epsilon } = op.bn;
      return perChannel(x, (v, c) => ((v - movingMean[c]) / Math.sqrt(movingVariance[c] + epsilon)) * gamma[c] + beta[c]);
    }
    case 'scaleShift':
      return perChannel(x, (v, c) => v * op.scale[c] + op.shift[c]);
    case 'activation':
      return activation(op.activation, x);
    case 'flatten':
      return { shape: [x.shape[0], x.shape.slice(1).reduce((a, b) => a * b, 1)], data: x.data };
    case 'dense': {
      const [n, k] = x.shape;
      const out = new Float64Array(n * op.units);
      for (let r = 0; r < n; r++) {
        for (let j = 0; j < op.units; j++) {
          let sum = op.bias ? op.bias[j] : 0;
          for (let i = 0; i < k; i++) sum += x.data[r * k + i] * op.kernel[i * op.units + j];
          out[r * op.units + j] = sum;
        }
      }
      return { shape: [n, op.units], data: out };
    }
    case 'conv':
      return window2d(x, op.kernelSize, op.strides, op.dilations, op.padding, op.filters, (read, o) => {
        let sum = op.bias ? op.bias[o] : 0;
        for (let y = 0; y < op.kernelSize[0]; y++) {
          for (let z = 0; z < op.kernelSize[1]; z++) {
            for (let i = 0; i < op.inChannels; i++) {
              const v = read(y, z, i);
              if (v !== null) sum += v * op.kernel[((y * op.kernelSize[1] + z) * op.inChannels + i) * op.filters + o];
            }
          }
        }
        return sum;
      });
    case 'pool':
      return window2d(x, op.poolSize, op.strides, [1, 1], op.padding, x.shape[3], (read, c) => {
        const values: number[] = [];
        for (let y = 0; y < op.poolSize[0]; y++) {
          for (let z = 0; z < op.poolSize[1]; z++) {
            const v = read(y, z, c);
            if (v !== null) values.push(v);
          }
        }
        return op.type === 'max' ? Math.max(...values) : values.reduce((a, b) => a + b, 0) / values.length;
      });
  }
}

type Reader = (dy: number, dx: number, channel: number) => number | null;

/** Slides a window over NHWC input with TensorFlow's padding rules; `read` returns null in the padding. */
function window2d(
  x: Tensor,
  size: [number, number],
  strides: [number, number],
  dilations: [number, number],
  padding: 'same' | 'valid',
  outChannels: number,
  compute: (read: Reader, outChannel: number) => number,
): Tensor {
  const [n, h, w, c] = x.shape;
  const effective = [0, 1].map((i) => (size[i] - 1) * dilations[i] + 1);
  const inputSize = [h, w];
  const outSize = [0, 1].map((i) =>
    padding === 'same' ? Math.ceil(inputSize[i] / strides[i]) : Math.ceil((inputSize[i] - effective[i] + 1) / strides[i]),
  );
  const padBefore = [0, 1].map((i) =>
    padding === 'same' ? Math.floor(Math.max((outSize[i] - 1) * strides[i] + effective[i] - inputSize[i], 0) / 2) : 0,
  );
  const out = new Float64Array(n * outSize[0] * outSize[1] * outChannels);
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < outSize[0]; oy++) {
      for (let ox = 0; ox < outSize[1]; ox++) {
        const read: Reader = (dy, dx, ch) => {
          const iy = oy * strides[0] - padBefore[0] + dy * dilations[0];
          const ix = ox * strides[1] - padBefore[1] + dx * dilations[1];
          if (iy < 0 || iy >= h || ix < 0 || ix >= w) return null;
          return x.data[((b * h + iy) * w + ix) * c + ch];
        };
        for (let o = 0; o < outChannels; o++) out[((b * outSize[0] + oy) * outSize[1] + ox) * outChannels + o] = compute(read, o);
      }
    }
  }
  return { shape: [n, outSize[0], outSize[1], outChannels], data: out };
}

function activation(fn: string, x: Tensor): Tensor {
  const f: Record<string, (v: number) => number> = {
    linear: (v) => v,
    relu: (v) => Math.max(0, v),
    relu6: (v) => Math.min(6, Math.max(0, v)),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    tanh: Math.tanh,
    elu: (v) => (v > 0 ? v : Math.exp(v) - 1),
    softplus: (v) => Math.log1p(Math.exp(v)),
    softsign: (v) => v / (1 + Math.abs(v)),
    hardSigmoid: (v) => Math.min(1, Math.max(0, 0.2 * v + 0.5)),
    swish: (v) => v / (1 + Math.exp(-v)),
    selu: (v) => 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * (Math.exp(v) - 1)),
  };
  if (fn === 'softmax') {
    const channels = x.shape[x.shape.length - 1];
    const out = new Float64Array(x.data.length);
    for (let start = 0; start < x.data.length; start += channels) {
      const row = x.data.subarray(start, start + channels);
      const max = Math.max(...row);
      const exps = Array.from(row, (v) => Math.exp(v - max));
      const total = exps.reduce((a, b) => a + b, 0);
      exps.forEach((e, i) => {
        out[start + i] = e / total;
      });
    }
    return { shape: x.shape, data: out };
  }
  if (!f[fn]) throw new Error(`reference: no activation ${fn}`);
  return { shape: x.shape, data: x.data.map(f[fn]) };
}
