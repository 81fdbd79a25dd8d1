// A traced training run (OTEL_TRACES_EXPORTER=otlp, http/json to an in-process collector endpoint):
// `bnserve train`'s path exports one bnserve.train span and, under it, one bnserve.epoch span per
// epoch with the epoch's metrics, before the command returns (no flush by the caller).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prepareTraining, runPreparedTraining } from '../../src/commands/train.ts';
import { FakeRegistry } from '../serve/fake-registry.ts';
import { startOtlpSink } from '../serve/otlp-sink.ts';
import { tempDir } from './helpers.ts';

test('a training run exports one span per epoch under its run span', async (t) => {
  const sink = await startOtlpSink();
  const otel = {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_SERVICE_NAME: 'bnserve-trainer-under-test',
  };
  Object.assign(process.env, otel);
  t.after(async () => {
    for (const name of Object.keys(otel)) delete process.env[name];
    await sink.close();
  });
  const out = await tempDir(t, 'bnserve-trace-train-');
  const prepared = await prepareTraining({ config: 'examples/iris-bn.json', out });
  prepared.config = { ...prepared.config, epochs: 3, earlyStopping: undefined };
  const registry = new FakeRegistry();
  const result = await runPreparedTraining(prepared, { config: 'examples/iris-bn.json', out, export: false, quiet: true }, registry);
  assert.equal(result.epochs, 3);

  const runs = sink.spans.filter((s) => s.name === 'bnserve.train');
  assert.equal(runs.length, 1, 'one run span, exported when the command returned');
  const run = runs[0];
  assert.equal(run.service, 'bnserve-trainer-under-test');
  assert.equal(run.attributes['bnserve.model.name'], 'iris');
  const epochs = sink.spans
    .filter((s) => s.name === 'bnserve.epoch')
    .sort((a, b) => Number(a.attributes['bnserve.epoch']) - Number(b.attributes['bnserve.epoch']));
  assert.deepEqual(
    epochs.map((e) => e.attributes['bnserve.epoch']),
    [1, 2, 3],
  );
  for (const e of epochs) {
    assert.equal(e.traceId, run.traceId);
    assert.equal(e.parentSpanId, run.spanId);
    assert.ok(Number.isFinite(e.attributes['bnserve.loss']), 'loss');
    assert.ok(Number(e.attributes['bnserve.accuracy']) >= 0 && Number(e.attributes['bnserve.accuracy']) <= 1, 'accuracy');
    assert.ok(Number(e.attributes['bnserve.samples_per_second']) > 0, 'samples/s');
    assert.ok(e.startNs >= run.startNs && e.endNs <= run.endNs, 'within the run');
  }
});
