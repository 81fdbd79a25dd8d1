// The data plane without a transport: what REST and gRPC both call, built and run with no Fastify app.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataPlane } from '../../src/serve/dataplane/data-plane.ts';
import type { ManagerLog } from '../../src/serve/dataplane/model-manager.ts';
import { resolveServeConfig } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, maxAbsDiff, mlpReference, randomMlp, versionInput } from './fixtures.ts';

const quiet: ManagerLog = { info: () => {}, warn: () => {}, error: () => {} };

describe('DataPlane', () => {
  it('answers health, metadata and an inference with no HTTP app', async () => {
    const registry = new FakeRegistry();
    const params = randomMlp(7);
    await registry.registerVersion(versionInput('iris', params, 'classification'));
    const plane = DataPlane.create({ registry, config: resolveServeConfig({ providers: ['cpu'], env: {} }), log: quiet });
    assert.equal(plane.serverReadiness().ready, false, 'not ready before the models are loaded');
    await plane.start();
    try {
      assert.deepEqual(plane.serverReadiness(), { ready: true, reasons: [] });
      assert.equal(plane.serverMetadata().name, 'bnserve');
      assert.equal((await plane.modelReady('iris', undefined)).code, 200);
      await assert.rejects(plane.modelReady('nope', undefined), { code: 'not_found' });

      const rows = IRIS_ROWS.slice(0, 3);
      const outputs = await plane.lease('iris', undefined, true, async (v) => {
        assert.deepEqual(plane.modelMetadata(v).outputs, [{ name: 'probabilities', datatype: 'FP32', shape: [-1, 3] }]);
        const input = { name: 'input', shape: [rows.length, 4], decode: () => Float32Array.from(rows.flat()) };
        return plane.runTensors(v, { inputs: [input] }, (tensors) => tensors);
      });
      assert.equal(outputs.length, 1);
      assert.deepEqual(outputs[0].shape, [3, 3]);
      assert.ok(maxAbsDiff([...(outputs[0].data as Float32Array)], mlpReference(params, 'classification', rows).flat()) < 1e-5);

      const predicted = await plane.lease('iris', undefined, true, (v) => plane.predictRows(v, rows));
      assert.equal(predicted.predictions.length, 3);
      assert.equal(predicted.model_version, 1);

      plane.lifecycle.draining = true;
      assert.deepEqual(plane.serverReadiness(), { ready: false, reasons: ['shutting down'] });
    } finally {
      await plane.close();
    }
  });
});
