import * as tf from '@tensorflow/tfjs';

export interface BnLayerCheck {
  name: string;
  /** max over channels of |moving_mean − data mean| / √(data variance + ε). */
  meanGap: number;
  /** max over channels of max(moving_var/data var, data var/moving_var). */
  varianceRatio: number;
}

/** Per-channel mean and biased variance over every axis but the last, in float64. */
export function channelMoments(values: ArrayLike<number>, channels: number): { mean: Float64Array; variance: Float64Array } {
  const count = values.length / channels;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) mean[i % channels] += values[i];
  for (let c = 0; c < channels; c++) mean[c] /= count;
  for (let i = 0; i < values.length; i++) variance[i % channels] += (values[i] - mean[i % channels]) ** 2;
  for (let c = 0; c < channels; c++) variance[c] /= count;
  return { mean, variance };
}

export function compareMoments(
  name: string,
  moving: { mean: ArrayLike<number>; variance: ArrayLike<number> },
  data: { mean: ArrayLike<number>; variance: ArrayLike<number> },
  epsilon: number,
): BnLayerCheck {
  let meanGap = 0;
  let varianceRatio = 1;
  for (let c = 0; c < data.mean.length; c++) {
    meanGap = Math.max(meanGap, Math.abs(moving.mean[c] - data.mean[c]) / Math.sqrt(data.variance[c] + epsilon));
    const a = moving.variance[c] + epsilon;
    const b = data.variance[c] + epsilon;
    varianceRatio = Math.max(varianceRatio, a / b, b / a);
  }
  return { name, meanGap, varianceRatio };
}

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
