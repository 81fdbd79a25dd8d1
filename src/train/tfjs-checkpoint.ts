// The trainer's side of the checkpoint format (src/checkpoint): tfjs models to and from its files.
import * as tf from '@tensorflow/tfjs';
import { type Preprocessing, readModelJson, readWeightGroup, WEIGHTS_FILE, writeCheckpoint } from '../checkpoint/index.ts';
import { skipCpuBackendAdvice } from './cpu-backend-advice.ts';

export interface CheckpointParts {
  model: tf.LayersModel;
  preprocessing: Preprocessing;
  config: unknown;
  metrics: unknown;
}

function joinWeightData(data: tf.io.WeightData | undefined): Uint8Array {
  if (!data) return new Uint8Array(0);
  const buffers = Array.isArray(data) ? data : [data];
  const total = buffers.reduce((n, b) => n + b.byteLength, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const buffer of buffers) {
    out.set(new Uint8Array(buffer), offset);
    offset += buffer.byteLength;
  }
  return out;
}

/** Serialises a tfjs model to model.json + weights.bin contents (layers format, moving statistics included). */
async function serializeModel(model: tf.LayersModel): Promise<{ modelJson: object; weights: Uint8Array }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (!artifacts) throw new Error('tfjs did not hand over the model artifacts');
  const modelJson = {
    format: 'layers-model',
    generatedBy: artifacts.generatedBy,
    convertedBy: 'bnserve',
    modelTopology: artifacts.modelTopology,
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: artifacts.weightSpecs ?? [] }],
  };
  return { modelJson, weights: joinWeightData(artifacts.weightData) };
}

/** Serialises the model, then writes the checkpoint atomically (see writeCheckpoint). */
export async function saveCheckpoint(dir: string, parts: CheckpointParts): Promise<void> {
  const { modelJson, weights } = await serializeModel(parts.model);
  await writeCheckpoint(dir, { modelJson, weights, preprocessing: parts.preprocessing, config: parts.config, metrics: parts.metrics });
}

/** Loads model.json + weights.bin back into a tfjs model (no file:// handler needed). */
export async function loadCheckpointModel(dir: string): Promise<tf.LayersModel> {
  await skipCpuBackendAdvice();
  // Checked by the checkpoint schema; tfjs's own type is narrower than the schema's loose objects.
  const modelJson = (await readModelJson(dir)) as unknown as tf.io.ModelJSON;
  const handler: tf.io.IOHandler = {
    load: async () =>
      tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
        const joined = Buffer.concat(await Promise.all(manifest.map((group) => readWeightGroup(dir, group))));
        const specs = manifest.flatMap((group) => group.weights);
        return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength)];
      }),
  };
  return tf.loadLayersModel(handler);
}
