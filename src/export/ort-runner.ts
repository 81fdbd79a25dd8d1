// Runs ONNX bytes with onnxruntime-node on the CPU (the parity check's reference runtime).
import * as ort from 'onnxruntime-node';

export async function runOnnx(
  model: Uint8Array,
  input: Float32Array,
  dims: number[],
  names: { input: string; output: string },
): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    const result = await session.run({ [names.input]: new ort.Tensor('float32', input, dims) });
    const output = result[names.output];
    if (!output) throw new Error(`the ONNX model has no output named ${names.output}`);
    return output.data as Float32Array;
  } finally {
    await session.release();
  }
}
