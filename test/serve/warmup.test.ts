// Warm-up samples stored with a model (bnserve_warmup metadata): run at load before the version
// serves; a sample the model cannot answer makes the load fail with the reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeModel, encodeModel } from '../../src/export/onnx/helpers.ts';
import { scanMetadata } from '../../src/export/onnx/metadata-scan.ts';
import { onnx } from '../../src/export/onnx/proto.ts';
import { WARMUP_KEY, type WarmupSample, warmupProp } from '../../src/export/onnx/warmup.ts';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, randomMlp, versionInput } from './fixtures.ts';

function withWarmup(artifact: Uint8Array, value: string): Uint8Array {
  const model = decodeModel(artifact);
  model.metadataProps = [...(model.metadataProps ?? []), onnx.StringStringEntryProto.fromObject({ key: WARMUP_KEY, value })];
  return encodeModel(model);
}

async function readiness(value: string, instanceCount = 1) {
  const registry = new FakeRegistry();
  const input = versionInput('iris', randomMlp(9), 'classification');
  await registry.registerVersion({ ...input, artifact: withWarmup(input.artifact, value) });
  const app = await buildApp({ registry, env: {}, providers: ['cpu'], refreshIntervalMs: 0, adminToken: 't', batching: { instanceCount } });
  await app.ready();
  try {
    const ready = (await app.inject({ method: 'GET', url: '/v2/health/ready' })).json();
    const status = (
      await app.inject({ method: 'POST', url: '/v2/repository/models/iris/load', headers: { authorization: 'Bearer t' } })
    ).json();
    return { ready, detail: status.load_errors?.[0]?.detail as string | undefined };
  } finally {
    await app.close();
  }
}

const sample = (rows: number[][], shape = [rows.length, 4]): string =>
  warmupProp({ inputs: [{ name: 'input', shape, datatype: 'FP32', data: rows.flat() }] }).value;

describe('warm-up samples', () => {
  it('a model with real rows as its sample loads and is ready', async () => {
    assert.deepEqual((await readiness(sample(IRIS_ROWS.slice(0, 4)))).ready, { ready: true });
  });

  it('two instances (worker threads) each warm up on the sample: the load finishes and is ready', { timeout: 60_000 }, async () => {
    // A worker takes over the buffers it is sent: one shared sample left the second worker a detached buffer, and the load hung.
    assert.deepEqual((await readiness(sample(IRIS_ROWS.slice(0, 4)), 2)).ready, { ready: true });
  });

  it('a sample the model answers with non-finite outputs fails the load, with the reason', async () => {
    const { ready, detail } = await readiness(sample([[3e38, -3e38, 3e38, -3e38]]));
    assert.equal(ready.ready, false);
    assert.match(ready.reasons[0], /failed to load: warm-up failed/);
    assert.match(detail ?? '', /warm-up sample: output probabilities is not finite/);
  });

  it('a sample of the wrong shape fails the load (zeros of the right shape would have passed)', async () => {
    const { ready, detail } = await readiness(sample([[1, 2, 3]], [1, 3]));
    assert.equal(ready.ready, false);
    assert.match(detail ?? '', /warm-up/);
  });

  it('metadata is read without decoding the graph, as the full decoder reads it', () => {
    const input = versionInput('iris', randomMlp(9), 'classification');
    const value = sample(IRIS_ROWS.slice(0, 2));
    const bytes = withWarmup(input.artifact, value);
    assert.equal(scanMetadata(bytes)[WARMUP_KEY], value);
    assert.deepEqual((JSON.parse(value) as WarmupSample).inputs[0].shape, [2, 4]);
  });
});
