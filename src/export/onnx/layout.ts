// Layout conversions between tfjs (NHWC activations, [kh, kw, in, out] kernels) and ONNX (NCHW, [out, in, kh, kw]).

/** tfjs Conv2D kernel [kh, kw, in, out] → ONNX Conv weight [out, in, kh, kw]. */
export function convKernelToOnnx(kernel: ArrayLike<number>, kh: number, kw: number, cin: number, cout: number): Float64Array {
  const out = new Float64Array(kh * kw * cin * cout);
  for (let y = 0; y < kh; y++) {
    for (let x = 0; x < kw; x++) {
      for (let i = 0; i < cin; i++) {
        for (let o = 0; o < cout; o++) {
          out[((o * cin + i) * kh + y) * kw + x] = kernel[((y * kw + x) * cin + i) * cout + o];
        }
      }
    }
  }
  return out;
}

/**
 * Flattening NCHW puts (c, h, w) at c·H·W + h·W + w; tfjs flattens NHWC, putting it at (h·W + w)·C + c.
 * Returns, for each NCHW-flat position, the tfjs-flat position that holds the same value.
 */
export function nchwFlattenToNhwc(h: number, w: number, c: number): Int32Array {
  const perm = new Int32Array(h * w * c);
  for (let ch = 0; ch < c; ch++) {
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) perm[(ch * h + y) * w + x] = (y * w + x) * c + ch;
    }
  }
  return perm;
}

/** Reorders the rows of a row-major [rows, cols] matrix: row r of the result is row perm[r] of the input. */
export function permuteRows(matrix: Float64Array, cols: number, perm: ArrayLike<number>): Float64Array {
  const out = new Float64Array(matrix.length);
  for (let r = 0; r < perm.length; r++) out.set(matrix.subarray(perm[r] * cols, (perm[r] + 1) * cols), r * cols);
  return out;
}

/**
 * TensorFlow 'same' padding for one spatial axis: the total is split with the extra cell at the end
 * (ONNX SAME_UPPER). Returns [begin, end].
 */
export function samePadding(input: number, window: number, stride: number): [number, number] {
  const output = Math.ceil(input / stride);
  const total = Math.max((output - 1) * stride + window - input, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}
