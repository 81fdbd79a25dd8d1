// The fast wasm kernels change nothing but speed: the seeded Iris run gives the accuracy, loss and BN
// statistics recorded from the original kernels; and backend selection routes conv nets to wasm only
// when it can train them.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { loadTrainConfig } from '../../src/train/config.ts';
import { initBackend } from '../../src/train/backend.ts';
import { train } from '../../src/train/trainer.ts';
import { fastWasmKernelsInstalled } from '../../src/train/wasm-kernels.ts';

interface Recorded {
  testAccuracy: number;
  testLoss: number;
  finalLoss: number;
  bnSteps: number;
  bn: Record<string, Record<'gamma' | 'beta' | 'movingMean' | 'movingVariance', number[]>>;
}

const TOLERANCE = 1e-5;

test('the seeded Iris run on the fast wasm kernels matches the run recorded on the original kernels', async () => {
  const recorded = JSON.parse(await readFile('test/train/fixtures/iris-wasm-before-fast-kernels.json', 'utf8')) as Recorded;
  const config = await loadTrainConfig('examples/iris-bn.json');
  const result = await train({ ...config, backend: 'wasm' });
  try {
    assert.equal(result.backend, 'wasm');
    assert.equal(fastWasmKernelsInstalled(), true, 'the run used the fast kernels');
    assert.equal(result.test.accuracy, recorded.testAccuracy);
    assert.equal(result.bnSteps, recorded.bnSteps);
    assert.ok(Math.abs(result.test.loss - recorded.testLoss) <= TOLERANCE, `test loss ${result.test.loss} vs ${recorded.testLoss}`);
    const finalLoss = result.epochs.at(-1)!.loss;
    assert.ok(Math.abs(finalLoss - recorded.finalLoss) <= TOLERANCE, `final loss ${finalLoss} vs ${recorded.finalLoss}`);
    for (const [layer, stats] of Object.entries(recorded.bn)) {
      const [gamma, beta, movingMean, movingVariance] = result.model.getLayer(layer).getWeights();
      const now = { gamma, beta, movingMean, movingVariance };
      for (const [name, values] of Object.entries(stats)) {
        const actual = now[name as keyof typeof now].dataSync();
        assert.equal(actual.length, values.length);
        const worst = values.reduce((m, v, i) => Math.max(m, Math.abs(v - actual[i])), 0);
        assert.ok(worst <= TOLERANCE, `${layer} ${name}: max difference ${worst}`);
      }
    }
  } finally {
    result.model.dispose();
  }
});

test('conv nets train on wasm with the fast kernels and on cpu with BNSERVE_WASM_KERNELS=original', async (t) => {
  const saved = process.env.BNSERVE_WASM_KERNELS;
  t.after(async () => {
    if (saved === undefined) delete process.env.BNSERVE_WASM_KERNELS;
    else process.env.BNSERVE_WASM_KERNELS = saved;
    await initBackend('wasm');
  });
  const tensorflow = (await initBackend('auto')) === 'tensorflow';
  if (tensorflow) {
    t.skip('tfjs-node is installed: auto picks it before wasm');
    return;
  }
  assert.equal(await initBackend('auto', true), 'wasm');
  assert.equal(fastWasmKernelsInstalled(), true);
  process.env.BNSERVE_WASM_KERNELS = 'original';
  assert.equal(await initBackend('auto', true), 'cpu');
  assert.equal(await initBackend('auto', false), 'wasm');
  assert.equal(fastWasmKernelsInstalled(), false);
});
