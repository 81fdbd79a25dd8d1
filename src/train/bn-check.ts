import * as tf from '@tensorflow/tfjs';
import { type BnLayerCheck, channelMoments, compareMoments } from '../lib/bn.ts';

/**
 * Measures, for every BatchNormalization layer, how far its frozen moving statistics are from the
 * statistics of what actually reaches it at inference on the given (standardised) inputs.
 */
export function checkBnStatistics(model: tf.LayersModel, x: Float32Array, inputShape: number[]): BnLayerCheck[] {
  const layers = model.layers.filter((layer) => layer.getClassName() === 'BatchNormalization');
  if (layers.length === 0) return [];
  const n = x.length / inputShape.reduce((a, b) => a * b, 1);
  // One forward pass whose outputs are the inputs of every BN layer. The probe shares the trained
  // layers, so it is not disposed (that would free the model's weights).
  const probe = tf.model({ inputs: model.inputs, outputs: layers.map((layer) => layer.input as tf.SymbolicTensor) });
  const input = tf.tensor(x, [n, ...inputShape]);
  const predicted = probe.predict(input, { batchSize: 1024 });
  const outputs = Array.isArray(predicted) ? predicted : [predicted];
  try {
    return layers.map((layer, i) => {
      const [, , movingMean, movingVariance] = layer.getWeights();
      const epsilon = (layer.getConfig() as { epsilon: number }).epsilon;
      return compareMoments(
        layer.name,
        { mean: movingMean.dataSync(), variance: movingVariance.dataSync() },
        channelMoments(outputs[i].dataSync(), movingMean.size),
        epsilon,
      );
    });
  } finally {
    tf.dispose([input, ...outputs]);
  }
}
