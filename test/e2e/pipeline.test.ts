// The whole data flow on real parts: config → train (tfjs) → checkpoint → export (fold + parity)
// → registry (SQLite) → server (onnxruntime, asked for cuda,cpu) → HTTP answers equal to the
// trained model's own tfjs inference.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFile } from 'node:fs/promises';
import { openRegistry } from '../../src/registry/index.ts';
import { runTrainCommand } from '../../src/commands/train.ts';
import { startServer } from '../../src/serve/index.ts';
import { readPreprocessing } from '../../src/checkpoint/index.ts';
import { loadCheckpointModel } from '../../src/train/tfjs-checkpoint.ts';
import { predictFlat } from '../../src/train/trainer.ts';
import { applyStandardization } from '../../src/train/standardize.ts';
import { datasetFromCsv } from '../../src/train/data-csv.ts';
import { IRIS_CSV } from '../../src/train/data.ts';
import { tempDir } from '../train/helpers.ts';
import { decodeModel, readMetadata } from '../../src/export/onnx/helpers.ts';

async function postJson(url: string, body: unknown) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as any };
}

test('served predictions equal the trained model’s tfjs inference on every Iris row', async (t) => {
  const dir = await tempDir(t);
  const registry = await openRegistry({ databaseUrl: `file:${path.join(dir, 'registry.db')}`, artifactsDir: path.join(dir, 'artifacts') });
  t.after(() => registry.close());
  const checkpoint = path.join(dir, 'checkpoint');
  const trained = await runTrainCommand({ config: 'examples/iris-bn.json', export: true, out: checkpoint, quiet: true }, registry);
  assert.equal(trained.model?.version, 1);
  assert.ok(trained.model!.parityMaxAbsDiff <= 1e-5);

  // The registered artifact carries the contract's metadata.
  const version = (await registry.getVersion('iris', 1))!;
  const metadata = readMetadata(decodeModel(await registry.readArtifact(version)));
  assert.equal(metadata.run_id, trained.runId);
  assert.equal(metadata.folded, 'true');
  assert.deepEqual(JSON.parse(metadata.class_labels), ['setosa', 'versicolor', 'virginica']);
  assert.deepEqual(JSON.parse(metadata.feature_names), ['sepal_length', 'sepal_width', 'petal_length', 'petal_width']);
  assert.equal(Number(metadata.parity_max_abs_diff), version.parityMaxAbsDiff);
  assert.equal(JSON.parse(metadata.bn_guard).stale, false);
  assert.match(metadata.producer, /^bnserve /);

  // Reference: the checkpoint run by tfjs on standardised features.
  const iris = datasetFromCsv(await readFile(IRIS_CSV, 'utf8'), { labelColumn: 'species', task: 'classification' });
  const preprocessing = await readPreprocessing(checkpoint);
  const model = await loadCheckpointModel(checkpoint);
  const expected = predictFlat(model, applyStandardization(iris.x, preprocessing), [4]);
  model.dispose();

  const server = await startServer({ registry, host: '127.0.0.1', port: 0, providers: ['cuda', 'cpu'], logger: false });
  t.after(() => server.close());
  const rows = Array.from({ length: 150 }, (_, i) => Array.from(iris.x.subarray(i * 4, i * 4 + 4)));

  const predict = await postJson(`${server.url}/v1/models/iris:predict`, { instances: rows });
  assert.equal(predict.status, 200);
  assert.equal(predict.body.model_version, 1);
  let maxDiff = 0;
  predict.body.predictions.forEach((p: { probabilities: Record<string, number> }, i: number) => {
    preprocessing.classLabels.forEach((label, c) => {
      maxDiff = Math.max(maxDiff, Math.abs(p.probabilities[label] - expected[i * 3 + c]));
    });
  });
  assert.ok(maxDiff <= 1e-5, `max |served − tfjs| = ${maxDiff}`);
  const accuracy =
    predict.body.predictions.filter((p: { label: string }, i: number) => p.label === iris.classLabels[iris.y[i]]).length / 150;
  assert.ok(accuracy >= 0.93, `accuracy over all 150 rows ${accuracy}`);

  const infer = await postJson(`${server.url}/v2/models/iris/infer`, {
    id: 'e2e',
    inputs: [{ name: 'input', shape: [150, 4], datatype: 'FP32', data: rows.flat() }],
  });
  assert.equal(infer.status, 200);
  assert.equal(infer.body.id, 'e2e');
  const data: number[] = infer.body.outputs[0].data;
  assert.ok(data.every((v, k) => Math.abs(v - expected[k]) <= 1e-5));

  // One row alone answers exactly as it did inside the batch of 150.
  const single = await postJson(`${server.url}/v2/models/iris/infer`, {
    inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: rows[77] }],
  });
  assert.deepEqual(single.body.outputs[0].data, data.slice(77 * 3, 78 * 3));

  const served = (await (await fetch(`${server.url}/v2/models/iris`)).json()) as any;
  assert.equal(served.execution_provider, 'CPUExecutionProvider');
  assert.deepEqual(served.labels, ['setosa', 'versicolor', 'virginica']);
});
