// Matrix-product work of one training step, for the bench's achieved GFLOP/s: per dense or conv
// layer (the output layer included) 2·in·out multiply-adds per sample forward, twice that backward
// (input gradient and weight gradient). Elementwise work (BN, activations, Adam) is not counted.
import type { LayerSpec } from '../src/train/config.ts';
import { checkLayerShapes } from '../src/train/layer-shapes.ts';

function pair(value: number | [number, number]): [number, number] {
  return typeof value === 'number' ? [value, value] : value;
}

/** Forward + backward FLOPs of the products per training sample. */
export function trainingFlopsPerSample(layers: LayerSpec[], inputShape: number[], classes: number): number {
  const { shapes } = checkLayerShapes(layers, inputShape, classes);
  let forward = 0;
  let input = inputShape;
  layers.forEach((spec, index) => {
    const output = shapes[index];
    if (spec.type === 'dense') forward += 2 * input[input.length - 1] * spec.units;
    if (spec.type === 'conv2d') {
      const [kh, kw] = pair(spec.kernelSize);
      forward += 2 * output[0] * output[1] * spec.filters * kh * kw * input[2];
    }
    input = output;
  });
  forward += 2 * input.reduce((a, b) => a * b, 1) * classes;
  return 3 * forward;
}
