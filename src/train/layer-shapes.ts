import type { LayerSpec } from './config.ts';
import { ConfigError } from './config.ts';

/**
 * The most weights (moving statistics included) a configured model may have: 256 MiB of float32,
 * and training keeps several copies (gradients, optimizer slots), within the wasm backend's 4 GiB.
 */
export const MAX_PARAMETERS = 2 ** 26;

export interface ShapeCheck {
  /** Per-example output shape of every configured layer, in order (the output head excluded). */
  shapes: number[][];
  parameters: number;
}

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

function describe(shape: number[]): string {
  return `[${shape.join(', ')}]`;
}

function spatialOutput(input: number, window: number, stride: number, padding: 'same' | 'valid'): number {
  return padding === 'same' ? Math.ceil(input / stride) : Math.ceil((input - window + 1) / stride);
}

/**
 * Walks the configured layers over the data's per-example input shape as tfjs would build them, so
 * a layer stack that cannot take this data (a conv2d on tabular rows, a window larger than the
 * image) or a model too large to train is refused before anything is registered or trained.
 */
export function checkLayerShapes(layers: LayerSpec[], inputShape: number[], outputUnits: number): ShapeCheck {
  let shape = [...inputShape];
  let parameters = 0;
  const shapes: number[][] = [];
  layers.forEach((spec, index) => {
    const where = `layers.${index} (${spec.type})`;
    const last = shape[shape.length - 1];
    switch (spec.type) {
      case 'dense':
        parameters += last * spec.units + (spec.useBias ? spec.units : 0);
        shape = [...shape.slice(0, -1), spec.units];
        break;
      case 'conv2d':
      case 'maxPool2d':
      case 'avgPool2d': {
        if (shape.length !== 3) {
          throw new ConfigError(
            `${where} needs image input [height, width, channels], but it receives ${describe(shape)}` +
              (inputShape.length === 1 ? ' (the data is tabular: use dense layers, or image data)' : ''),
          );
        }
        const [window, stride] =
          spec.type === 'conv2d' ? [pair(spec.kernelSize), pair(spec.strides)] : [pair(spec.poolSize), pair(spec.strides ?? spec.poolSize)];
        const height = spatialOutput(shape[0], window[0], stride[0], spec.padding);
        const width = spatialOutput(shape[1], window[1], stride[1], spec.padding);
        if (height < 1 || width < 1) {
          throw new ConfigError(
            `${where}: a ${window.join('×')} window with "${spec.padding}" padding does not fit its input ${describe(shape)}`,
          );
        }
        if (spec.type === 'conv2d') {
          parameters += window[0] * window[1] * last * spec.filters + (spec.useBias ? spec.filters : 0);
          shape = [height, width, spec.filters];
        } else {
          shape = [height, width, last];
        }
        break;
      }
      case 'batchNormalization':
        parameters += last * (2 + (spec.center ? 1 : 0) + (spec.scale ? 1 : 0));
        break;
      case 'flatten':
        if (shape.length < 2) throw new ConfigError(`${where}: its input ${describe(shape)} is already flat; remove the flatten layer`);
        shape = [shape.reduce((a, b) => a * b, 1)];
        break;
      case 'activation':
      case 'dropout':
        break;
    }
    shapes.push(shape);
  });
  const flat = shape.reduce((a, b) => a * b, 1);
  parameters += flat * outputUnits + outputUnits;
  if (parameters > MAX_PARAMETERS) {
    throw new ConfigError(
      `the model would have ${parameters.toLocaleString('en-US')} weights, more than the ${MAX_PARAMETERS.toLocaleString('en-US')} ` +
        'bnserve trains; use fewer units or filters',
    );
  }
  return { shapes, parameters };
}
