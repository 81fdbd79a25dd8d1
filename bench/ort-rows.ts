// In-process onnxruntime throughput of one model: rows/s at several batch sizes, the model's own
// limit that served rows/s is compared with.
import * as ort from 'onnxruntime-node';

export interface OrtRowsResult {
  batch: number;
  rowsPerSecond: number;
}

/** Runs the model back to back for about `seconds` per batch size (after a few warm-up runs). */
export async function ortRowsPerSecond(
  artifact: Uint8Array,
  width: number,
  batches: readonly number[],
  seconds = 1,
  sessionOptions: ort.InferenceSession.SessionOptions = {},
): Promise<OrtRowsResult[]> {
  const session = await ort.InferenceSession.create(artifact, { executionProviders: ['cpu'], ...sessionOptions });
  const inputName = session.inputNames[0];
  const results: OrtRowsResult[] = [];
  try {
    for (const batch of batches) {
      const data = new Float32Array(batch * width);
      for (let i = 0; i < data.length; i++) data[i] = ((i * 7919) % 1000) / 250 - 2;
      const feeds = { [inputName]: new ort.Tensor('float32', data, [batch, width]) };
      for (let i = 0; i < 3; i++) await session.run(feeds);
      const start = performance.now();
      let runs = 0;
      while (performance.now() - start < seconds * 1000) {
        await session.run(feeds);
        runs++;
      }
      results.push({ batch, rowsPerSecond: (runs * batch) / ((performance.now() - start) / 1000) });
    }
  } finally {
    await session.release();
  }
  return results;
}
