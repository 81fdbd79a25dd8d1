import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, parseTrainConfig } from '../../src/train/config.ts';
import { checkLayerShapes } from '../../src/train/layer-shapes.ts';
import { buildModel, layerName } from '../../src/train/model.ts';
import { ROOT } from '../cli/run-cli.ts';

function tfjsCount(model: tf.LayersModel): number {
  return model.weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

test('shape walk agrees with tfjs on the shipped examples (weights and output shapes)', async () => {
  await tf.setBackend('cpu');
  const cases: [string, number[], number][] = [
    ['cnn-bn.json', [8, 8, 2], 3],
    ['mlp-3bn.json', [12], 4],
    ['iris-bn.json', [4], 3],
  ];
  for (const [name, inputShape, classes] of cases) {
    const config = parseTrainConfig(JSON.parse(readFileSync(path.join(ROOT, 'examples', name), 'utf8')));
    const model = buildModel(config.layers, { inputShape, task: 'classification', outputUnits: classes, seed: 1 });
    const check = checkLayerShapes(config.layers, inputShape, classes);
    assert.equal(check.parameters, tfjsCount(model), name);
    for (const [i, spec] of config.layers.entries()) {
      const tfjsShape = (model.getLayer(layerName(spec, i)).outputShape as number[]).slice(1);
      assert.deepEqual(check.shapes[i], tfjsShape, `${name} layer ${i}`);
    }
    model.dispose();
  }
});

test('layers that cannot take the data are refused with the layer named', () => {
  const layers = (raw: object[]) => parseTrainConfig({ data: { kind: 'iris' }, layers: raw }).layers;
  assert.throws(
    () => checkLayerShapes(layers([{ type: 'dense', units: 4 }, { type: 'maxPool2d' }]), [4], 3),
    (e: unknown) =>
      e instanceof ConfigError && /layers\.1 \(maxPool2d\) needs image input .* receives \[4\] \(the data is tabular/.test(e.message),
  );
  assert.throws(
    () => checkLayerShapes(layers([{ type: 'conv2d', filters: 2, kernelSize: 5, padding: 'valid' }]), [4, 4, 1], 3),
    /layers\.0 \(conv2d\): a 5×5 window with "valid" padding does not fit its input \[4, 4, 1\]/,
  );
  assert.throws(() => checkLayerShapes(layers([{ type: 'flatten' }]), [4], 3), /already flat/);
  assert.throws(
    () => parseTrainConfig({ data: { kind: 'iris' }, layers: [{ type: 'dense', units: 1e8 }] }),
    /✖ Too big.*\n {2}→ at layers\[0\]\.units/,
  );
});
