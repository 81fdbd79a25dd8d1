// Conv2DBackpropFilter for the tfjs 4.22 wasm backend, which lacks it (so conv nets could not train
// on wasm). Built from existing fast pieces: an im2col gather in JavaScript over the wasm heap, then
// the wasm BatchMatMul kernel: dW[kh,kw,ci,co] = Σ_{b,oh,ow} x[b, oh·sh−top+kh, ow·sw−left+kw, ci] · dy[b,oh,ow,co].
import * as tf from '@tensorflow/tfjs';

type KernelFunc = tf.KernelConfig['kernelFunc'];
type TensorInfo = tf.TensorInfo;

interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): TensorInfo;
  typedArrayFromHeap(info: TensorInfo): Float32Array;
  disposeData(dataId: object): boolean;
}

interface BackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

/**
 * Writes the transposed patch matrix: row (kh·KW + kw)·CI + ci, column (b·OH + oh)·OW + ow holds
 * x[b, oh·sh − top + kh, ow·sw − left + kw, ci] (0 outside the image). NHWC input.
 */
export function im2colTransposed(x: Float32Array, out: Float32Array, info: tf.backend_util.Conv2DInfo): void {
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, filterHeight, filterWidth, strideHeight, strideWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const columns = batchSize * outHeight * outWidth;
  for (let kh = 0; kh < filterHeight; kh++) {
    for (let kw = 0; kw < filterWidth; kw++) {
      for (let ci = 0; ci < inChannels; ci++) {
        let o = ((kh * filterWidth + kw) * inChannels + ci) * columns;
        for (let b = 0; b < batchSize; b++) {
          for (let oh = 0; oh < outHeight; oh++) {
            const ih = oh * strideHeight - top + kh;
            const rowInside = ih >= 0 && ih < inHeight;
            const rowBase = (b * inHeight + ih) * inWidth * inChannels + ci;
            for (let ow = 0; ow < outWidth; ow++, o++) {
              const iw = ow * strideWidth - left + kw;
              out[o] = rowInside && iw >= 0 && iw < inWidth ? x[rowBase + iw * inChannels] : 0;
            }
          }
        }
      }
    }
  }
}

function conv2DBackpropFilter(args: Parameters<KernelFunc>[0]): TensorInfo {
  const backend = args.backend as unknown as WasmBackend;
  const attrs = args.attrs as unknown as BackpropFilterAttrs;
  let { x, dy } = args.inputs as { x: TensorInfo; dy: TensorInfo };
  const temporaries: TensorInfo[] = [];
  const kernel = (name: string) => {
    const config = tf.getKernel(name, 'wasm');
    if (!config) throw new Error(`the wasm backend has no ${name} kernel`);
    return config.kernelFunc;
  };
  try {
    if (attrs.dataFormat === 'NCHW') {
      const toNHWC = (t: TensorInfo) => {
        const r = kernel('Transpose')({ inputs: { x: t }, backend: args.backend, attrs: { perm: [0, 2, 3, 1] } }) as TensorInfo;
        temporaries.push(r);
        return r;
      };
      x = toNHWC(x);
      dy = toNHWC(dy);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number],
      attrs.filterShape,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      false,
      'channelsLast',
    );
    const rows = info.filterHeight * info.filterWidth * info.inChannels;
    const columns = info.batchSize * info.outHeight * info.outWidth;
    const patches = backend.makeOutput([1, rows, columns], 'float32');
    temporaries.push(patches);
    im2colTransposed(backend.typedArrayFromHeap(x), backend.typedArrayFromHeap(patches), info);
    const dy3d: TensorInfo = { dataId: dy.dataId, shape: [1, columns, info.outChannels], dtype: 'float32' };
    const product = kernel('BatchMatMul')({
      inputs: { a: patches, b: dy3d },
      backend: args.backend,
      attrs: { transposeA: false, transposeB: false },
    }) as TensorInfo;
    return { ...product, shape: [...attrs.filterShape] };
  } finally {
    for (const t of temporaries) backend.disposeData(t.dataId);
  }
}

/** Registers Conv2DBackpropFilter for wasm where tfjs has none (idempotent); true when registered by this call. */
export function registerWasmConvBackpropFilter(): boolean {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')) return false;
  tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilter as KernelFunc });
  return true;
}

export function unregisterWasmConvBackpropFilter(): void {
  if (tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc === conv2DBackpropFilter) {
    tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
  }
}

/** True when the wasm backend can train conv nets (Conv2DBackpropFilter and Conv2DBackpropInput present). */
export function wasmCanTrainConv(): boolean {
  return tf.getKernel('Conv2DBackpropFilter', 'wasm') != null && tf.getKernel('Conv2DBackpropInput', 'wasm') != null;
}
