// Lowering to ONNX, checked by running the graph in onnxruntime against the float64 reference
// interpreter (no tfjs involved): layouts, padding, pooling, flatten order, activations.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Activation } from '../../src/checkpoint/index.ts';
import { foldOps } from '../../src/export/fold-ops.ts';
import { buildOnnxModel } from '../../src/export/onnx/from-ops.ts';
import { decodeModel, encodeModel } from '../../src/export/onnx/helpers.ts';
import { irVersionFor } from '../../src/export/index.ts';
import type { Op } from '../../src/export/ops.ts';
import { runOnnx } from '../../src/export/ort-runner.ts';
import { evaluateOps } from './reference.ts';
import { randomOps } from './random-ops.ts';

const r = randomOps(77);
const moderate: [number, number] = [0.3, 2];
const act = (activation: Activation): Op => ({ kind: 'activation', name: `act_${activation}`, activation });
const standardize = (channels: number): Op => ({
  kind: 'standardize',
  name: 'standardize',
  mean: r.uniform(channels, 2, 6),
  std: r.uniform(channels, 0.5, 3),
});

async function assertLoweringMatches(ops: Op[], inputShape: number[], options: { opset?: number; outputName?: string } = {}) {
  const x = r.input([5, ...inputShape], 0, 8);
  const x32 = Float32Array.from(x.data);
  const reference = evaluateOps(ops, { shape: x.shape, data: Float64Array.from(x32) });
  const opset = options.opset ?? 17;
  const outputName = options.outputName ?? 'probabilities';
  let folded: Uint8Array | undefined;
  for (const chain of [ops, foldOps(ops)]) {
    const model = buildOnnxModel(chain, {
      inputShape,
      outputName,
      opset,
      irVersion: irVersionFor(opset),
      producerName: 'test',
      producerVersion: '0',
      metadata: {},
    });
    const bytes = encodeModel(model);
    const y = await runOnnx(bytes, x32, x.shape, { input: 'input', output: outputName });
    assert.equal(y.length, reference.data.length);
    const worst = reference.data.reduce((m, v, i) => Math.max(m, Math.abs(v - y[i]) / Math.max(1, Math.abs(v))), 0);
    assert.ok(worst < 1e-4, `${chain === ops ? 'unfolded' : 'folded'} graph differs from the float64 reference by ${worst}`);
    folded = bytes; // the last chain is the folded one
  }
  return decodeModel(folded!);
}

describe('lowering op chains to ONNX (onnxruntime vs float64 reference)', () => {
  const imageChain = (): Op[] => [
    standardize(2),
    r.conv(2, 3, 'same', [2, 2]),
    r.bn(3, 1e-3, moderate),
    act('relu'),
    { kind: 'pool', name: 'avg', type: 'avg', poolSize: [3, 3], strides: [2, 2], padding: 'same' },
    r.conv(3, 4, 'valid'),
    r.bn(4, 0.01, moderate),
    act('relu6'),
    { kind: 'pool', name: 'max', type: 'max', poolSize: [2, 2], strides: [2, 2], padding: 'same' },
    { kind: 'flatten', name: 'flatten' },
    r.dense(4, 5),
    act('softmax'),
  ];

  for (const opset of [13, 17, 21]) {
    test(`strided same conv, same avg/max pooling, valid conv, NHWC flatten → Dense (opset ${opset})`, async () => {
      const model = await assertLoweringMatches(imageChain(), [13, 11, 2], { opset });
      const ops = model.graph!.node!.map((n) => n.opType);
      assert.equal(ops.filter((o) => o === 'Transpose').length, 1, `one NHWC → NCHW transpose, got ${ops.join(',')}`);
      assert.equal(Number(model.opsetImport[0].version), opset);
    });
  }

  test('dilated conv, stride-1 same max pooling, Flatten → BN → Dense (transpose back when not folded)', async () => {
    const ops: Op[] = [
      r.conv(2, 3, 'same', [1, 1], [2, 2]),
      r.bn(3, 1e-3, moderate),
      act('elu'),
      { kind: 'pool', name: 'max', type: 'max', poolSize: [2, 2], strides: [1, 1], padding: 'same' },
      { kind: 'flatten', name: 'flatten' },
      r.bn(5 * 4 * 3, 1e-3, moderate),
      r.dense(5 * 4 * 3, 3),
      act('sigmoid'),
    ];
    const folded = await assertLoweringMatches(ops, [5, 4, 2]);
    assert.ok(!folded.graph!.node!.some((n) => n.opType === 'BatchNormalization'));
  });

  test('BN on the raw image (before any conv) and a per-channel fold through Flatten', async () => {
    const ops: Op[] = [standardize(3), r.bn(3, 1e-3, moderate), { kind: 'flatten', name: 'flatten' }, r.dense(4 * 3 * 3, 2), act('tanh')];
    const folded = await assertLoweringMatches(ops, [4, 3, 3]);
    assert.deepEqual(
      folded.graph!.node!.map((n) => n.opType),
      ['Flatten', 'Gemm', 'Tanh'],
    );
  });

  test('softmax over conv channels, and an activation between Flatten and Dense', async () => {
    const ops: Op[] = [
      r.conv(1, 3, 'valid'),
      act('softmax'),
      { kind: 'flatten', name: 'flatten' },
      act('relu'),
      r.dense(2 * 3 * 3, 4),
      act('softmax'),
    ];
    await assertLoweringMatches(ops, [4, 5, 1]);
  });

  test('every supported activation', async () => {
    const all: Activation[] = [
      'linear',
      'relu',
      'relu6',
      'sigmoid',
      'tanh',
      'elu',
      'softplus',
      'softsign',
      'selu',
      'hardSigmoid',
      'swish',
      'softmax',
    ];
    for (const fn of all) {
      await assertLoweringMatches([standardize(4), r.dense(4, 6), act(fn), r.bn(6, 1e-3, moderate), r.dense(6, 3)], [4]);
    }
  });

  test('regression output is named prediction with shape [batch, 1]', async () => {
    const model = await assertLoweringMatches([standardize(3), r.dense(3, 4), r.bn(4, 1e-3, moderate), act('relu'), r.dense(4, 1)], [3], {
      outputName: 'prediction',
    });
    const output = model.graph!.output![0];
    assert.equal(output.name, 'prediction');
    assert.deepEqual(
      output.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue)),
      ['batch', 1],
    );
  });
});
