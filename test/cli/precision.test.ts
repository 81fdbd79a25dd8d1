// `--precision int8` on register, export and import (the built CLI, a real SQLite registry): a trained
// model becomes an int8 version with its measured agreement in the artifact's metadata; a model int8
// breaks is refused by the accuracy gate (exit 3) and nothing is registered.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { decodeModel, encodeModel, readMetadata } from '../../src/export/onnx/helpers.ts';
import { scanMetadata } from '../../src/export/onnx/metadata-scan.ts';
import { openRegistry } from '../../src/registry/index.ts';
import { badForInt8 } from '../export/mlp-fixture.ts';
import { registryEnv, runCli } from './run-cli.ts';

let dir: string;
let env: Record<string, string>;
const checkpoint = () => path.join(dir, 'ckpt');

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-precision-'));
  env = registryEnv(dir);
  const r = await runCli(['train', '--config', 'examples/iris-bn.json', '--no-export', '--out', checkpoint(), '--json'], env);
  assert.equal(r.code, 0, r.stderr);
});
after(() => rm(dir, { recursive: true, force: true }));

async function artifactMetadata(name: string, version: number): Promise<Record<string, string>> {
  const registry = await openRegistry({ databaseUrl: env.DATABASE_URL, artifactsDir: env.BNSERVE_ARTIFACTS });
  try {
    const record = await registry.getVersion(name, version);
    assert.ok(record);
    return scanMetadata(new Uint8Array(await readFile(record.artifactPath)));
  } finally {
    await registry.close();
  }
}

test('register --precision int8: its own version, agreement ≥ 99% with fp32 stored in the artifact', { timeout: 180_000 }, async (t) => {
  const fp32 = await runCli(['register', '--checkpoint', checkpoint(), '--json'], env);
  assert.equal(fp32.code, 0, fp32.stderr);
  const a = JSON.parse(fp32.stdout);
  assert.deepEqual([a.version, a.precision, a.accuracy], [1, 'fp32', null]);
  assert.equal((await artifactMetadata('iris', 1)).precision, 'fp32');

  const int8 = await runCli(['register', '--checkpoint', checkpoint(), '--precision', 'int8', '--json'], env);
  assert.equal(int8.code, 0, int8.stderr);
  const b = JSON.parse(int8.stdout);
  t.diagnostic(`iris int8: ${JSON.stringify(b.accuracy)}`);
  assert.deepEqual([b.version, b.precision, b.accuracy.rows], [2, 'int8', 15], 'measured on the validation split (15 rows)');
  assert.ok(b.accuracy.agreement >= 0.99, `agreement ${b.accuracy.agreement}`);
  assert.ok(b.parityMaxAbsDiff <= 1e-5, 'the registry keeps the fp32 parity');
  const meta = await artifactMetadata('iris', 2);
  assert.equal(meta.precision, 'int8');
  assert.equal(Number(meta.agreement), b.accuracy.agreement);
  assert.equal(Number(meta.max_abs_diff_vs_fp32), b.accuracy.maxAbsDiff);

  const human = await runCli(['register', '--checkpoint', checkpoint(), '--precision', 'int8'], env);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /precision int8: top-1 agreement with fp32 \d+\.\d\d% on \d+ rows/);

  const bad = await runCli(['register', '--checkpoint', checkpoint(), '--precision', 'bf16'], env);
  assert.equal(bad.code, 2, bad.stderr);
  const badAgreement = await runCli(['register', '--checkpoint', checkpoint(), '--precision', 'int8', '--min-agreement', '1.5'], env);
  assert.equal(badAgreement.code, 2, badAgreement.stderr);
});

test('register --precision fp16: float16 weights, float32 input and output, its agreement stored', { timeout: 120_000 }, async () => {
  const r = await runCli(['register', '--checkpoint', checkpoint(), '--name', 'iris-fp16', '--precision', 'fp16', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const v = JSON.parse(r.stdout);
  assert.equal(v.precision, 'fp16');
  assert.ok(v.accuracy.agreement >= 0.99 && v.accuracy.maxAbsDiff < 0.01, JSON.stringify(v.accuracy));
  const meta = await artifactMetadata('iris-fp16', v.version);
  assert.deepEqual([meta.precision, Number(meta.agreement)], ['fp16', v.accuracy.agreement]);
});

test('export --precision int8 writes the int8 graph with its measurement', { timeout: 120_000 }, async () => {
  const out = path.join(dir, 'iris-int8.onnx');
  const r = await runCli(['export', '--checkpoint', checkpoint(), '--out', out, '--precision', 'int8', '--json'], env);
  assert.equal(r.code, 0, r.stderr);
  const model = decodeModel(new Uint8Array(await readFile(out)));
  assert.ok((model.graph?.node ?? []).some((n) => n.opType === 'MatMulInteger'));
  assert.equal(readMetadata(model).precision, 'int8');
  assert.ok(Number(readMetadata(model).agreement) >= 0.99);
});

test('import --precision int8: a trained model is registered, one int8 breaks is refused (exit 3)', { timeout: 120_000 }, async () => {
  const fp32File = path.join(dir, 'iris.onnx');
  const exported = await runCli(['export', '--checkpoint', checkpoint(), '--out', fp32File], env);
  assert.equal(exported.code, 0, exported.stderr);
  const good = await runCli(['import', fp32File, '--name', 'iris-imported', '--precision', 'int8', '--json'], env);
  assert.equal(good.code, 0, good.stderr);
  const g = JSON.parse(good.stdout);
  assert.equal(g.precision, 'int8');
  assert.ok(g.accuracy.agreement >= 0.99, `agreement ${g.accuracy.agreement}`);
  assert.equal((await artifactMetadata('iris-imported', g.version)).precision, 'int8');

  const badFile = path.join(dir, 'bad.onnx');
  await writeFile(badFile, encodeModel(badForInt8()));
  const refused = await runCli(['import', badFile, '--name', 'bad', '--precision', 'int8'], env);
  assert.equal(refused.code, 3, refused.stderr);
  assert.match(refused.stderr, /accuracy check failed: the int8 model agrees with fp32 on \d+\.\d\d% of 256 rows/);
  const fine = await runCli(['import', badFile, '--name', 'bad', '--json'], env);
  assert.equal(fine.code, 0, fine.stderr);
  assert.equal(JSON.parse(fine.stdout).version, 1, 'the refused int8 import registered nothing');
});
