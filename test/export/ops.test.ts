import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { readCheckpoint } from '../../src/checkpoint/index.ts';
import { opsFromCheckpoint } from '../../src/export/ops.ts';
import { layers, preprocessing, sequential, writeRawCheckpoint } from '../checkpoint/raw-files.ts';

describe('opsFromCheckpoint', () => {
  test('standardisation first, activations split off, Dropout dropped; identity standardisation omitted', async (t) => {
    const checkpoint = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential({ layers }) }));
    assert.deepEqual(
      opsFromCheckpoint(checkpoint).map((op) => op.kind),
      ['standardize', 'dense', 'activation', 'batchNorm', 'dense', 'activation'],
    );
    const identity = { ...preprocessing, mean: [0, 0, 0], std: [1, 1, 1] };
    const plain = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential({ layers }), preprocessing: identity }));
    assert.deepEqual(
      opsFromCheckpoint(plain).map((op) => op.kind),
      ['dense', 'activation', 'batchNorm', 'dense', 'activation'],
    );
  });

  test('refuses output sizes that disagree with the class labels, and a Dense on an image', async (t) => {
    const threeLabels = { ...preprocessing, classLabels: ['x', 'y', 'z'] };
    const checkpoint = await readCheckpoint(await writeRawCheckpoint(t, { topology: sequential({ layers }), preprocessing: threeLabels }));
    assert.throws(() => opsFromCheckpoint(checkpoint), /the model has 2 outputs but preprocessing.json expects 3/);
    const image = { ...checkpoint, inputShape: [1, 1, 3], preprocessing: { ...checkpoint.preprocessing, inputShape: [1, 1, 3] } };
    assert.throws(() => opsFromCheckpoint(image), /layer dense_0: Dense needs a flat input/);
  });
});
