// Moves weights between a tfjs LayersModel and the onnxruntime training step, keyed by the names the
// training graph uses (layer/weight, e.g. dense_0/kernel), so the checkpoint is written from the tfjs
// model exactly as before.
import * as tf from '@tensorflow/tfjs';

/** `layer/weight` for every weight of the model (moving statistics included), e.g. output/bias. */
function keyOf(layer: tf.layers.Layer, weight: tf.LayerVariable): string {
  // LayerVariable names get a _N suffix when a process builds the same model twice; originalName does not.
  const short = weight.originalName.slice(weight.originalName.lastIndexOf('/') + 1);
  return `${layer.name}/${short}`;
}

/** Every weight of the model, by `layer/weight` (copies). */
export function readModelWeights(model: tf.LayersModel): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const layer of model.layers) {
    const values = layer.getWeights();
    layer.weights.forEach((weight, i) => {
      out.set(keyOf(layer, weight), values[i].dataSync() as Float32Array);
    });
  }
  return out;
}

/** Writes `weights` into the model; every weight of the model must be present. */
export function assignModelWeights(model: tf.LayersModel, weights: ReadonlyMap<string, Float32Array>): void {
  for (const layer of model.layers) {
    if (layer.weights.length === 0) continue;
    const tensors = layer.weights.map((weight) => {
      const key = keyOf(layer, weight);
      const values = weights.get(key);
      if (!values) throw new Error(`no trained values for ${key}`);
      return tf.tensor(values, weight.read().shape);
    });
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}
