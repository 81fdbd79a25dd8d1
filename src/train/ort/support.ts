// Which models the onnxruntime training step can train exactly as tfjs does; anything else stays on
// tfjs (the reason is what `auto` reports).
import type { Activation, LayerSpec, TrainConfig } from '../config.ts';

/** Activations whose forward and backward the training graph spells out. */
export const ORT_ACTIVATIONS: ReadonlySet<Activation> = new Set(['linear', 'relu', 'sigmoid', 'tanh', 'softmax']);

export interface OrtModelShape {
  layers: LayerSpec[];
  /** Per-example input shape, as the data gives it. */
  inputShape: number[];
  task: TrainConfig['task'];
  optimizer: TrainConfig['optimizer'];
  /** Whether any kernel has a non-zero L1/L2 regulariser (those stay on tfjs). */
  regularized: boolean;
}

/** null when the onnxruntime step supports the model, else why not. */
export function ortUnsupportedReason(model: OrtModelShape): string | null {
  if (model.task !== 'classification') return 'only classification (softmax + cross-entropy) is supported';
  if (model.optimizer.type !== 'adam') return `only the adam optimizer is supported, not ${model.optimizer.type}`;
  if (model.regularized) return 'kernel regularisers are not supported';
  if (model.inputShape.length !== 1) return 'only flat (tabular) inputs are supported';
  for (const [index, layer] of model.layers.entries()) {
    const where = `layers.${index} (${layer.type})`;
    switch (layer.type) {
      case 'dense':
      case 'activation':
        if (!ORT_ACTIVATIONS.has(layer.activation)) return `${where}: activation ${layer.activation} is not supported`;
        break;
      case 'batchNormalization':
        // tfjs 4.22 cannot train these either (its training path reads the missing beta/gamma).
        if (!layer.center || !layer.scale) return `${where}: batchNormalization without center or scale is not supported`;
        break;
      case 'flatten':
        break;
      case 'dropout':
        // tfjs draws its own dropout masks: a graph cannot reproduce them, so only a no-op dropout is exact.
        if (layer.rate > 0) return `${where}: dropout with rate > 0 is not supported`;
        break;
      default:
        return `${where}: not supported`;
    }
  }
  return null;
}
