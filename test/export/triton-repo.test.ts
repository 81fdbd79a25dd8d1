// Triton model repository export: config.pbtxt read back (as Triton reads text format) and checked
// against the ONNX model (onnxruntime's view and the graph's value infos) and the serving settings;
// the repository is only ever added to.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { runExportCommand } from '../../src/commands/export.ts';
import { instanceKindFor, tritonTarget } from '../../src/commands/triton-export.ts';
import { ExportError } from '../../src/export/errors.ts';
import {
  decodeModel,
  encodeModel,
  FLOAT,
  INT64,
  makeGraph,
  makeModel,
  makeNode,
  makeTensorValueInfo,
} from '../../src/export/onnx/helpers.ts';
import { formatConfigPbtxt, onnxSignature, tritonModelConfig } from '../../src/export/triton-config.ts';
import { writeTritonRepoEntry } from '../../src/export/triton-repo.ts';
import { createFileAtomic } from '../../src/lib/durable-fs.ts';
import { DEFAULT_BATCHING } from '../../src/serve/config.ts';
import { registryEnv, runCli } from '../cli/run-cli.ts';
import { IRIS_LIKE, SMALL_CNN, trainedCheckpoint, type Fixture } from './fixtures.ts';
import { one, parsePbtxt, type PbMessage } from './pbtxt.ts';

const SETTINGS = {
  BNSERVE_BATCH_MAX_ROWS: '64',
  BNSERVE_BATCH_MAX_QUEUE_DELAY_US: '500',
  BNSERVE_BATCH_PREFERRED_SIZES: '16,8,128',
  BNSERVE_MAX_QUEUE_SIZE: '100',
  BNSERVE_QUEUE_TIMEOUT_US: '20000',
  BNSERVE_INSTANCE_COUNT: '2',
  BNSERVE_EXECUTION_PROVIDERS: 'cpu',
};

let fixture: Fixture;
let dir: string;
before(async () => {
  fixture = await trainedCheckpoint({ layers: IRIS_LIKE });
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-triton-'));
});
after(async () => {
  await fixture?.cleanup();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ORT_TO_TRITON: Record<string, string> = { float32: 'TYPE_FP32', int64: 'TYPE_INT64' };
const ONNX_TO_TRITON: Record<number, string> = { [FLOAT]: 'TYPE_FP32', [INT64]: 'TYPE_INT64' };

async function readConfig(repo: string, model: string): Promise<PbMessage> {
  return parsePbtxt(await readFile(path.join(repo, model, 'config.pbtxt'), 'utf8'));
}

/**
 * Every input and output in the config, in order, against the model: names as onnxruntime lists
 * them, element type and shape from onnxruntime's metadata and from the graph's value infos, dims
 * without the batch dimension when max_batch_size > 0.
 */
async function assertConfigMatchesModel(config: PbMessage, onnxFile: string): Promise<void> {
  const session = await ort.InferenceSession.create(onnxFile);
  try {
    const graph = decodeModel(await readFile(onnxFile)).graph!;
    const batched = (one<number>(config, 'max_batch_size') ?? 0) > 0;
    for (const [field, names, metadata, infos] of [
      ['input', session.inputNames, session.inputMetadata, graph.input ?? []],
      ['output', session.outputNames, session.outputMetadata, graph.output ?? []],
    ] as const) {
      const tensors = (config[field] ?? []) as PbMessage[];
      assert.deepEqual(
        tensors.map((t) => one<string>(t, 'name')),
        [...names],
        `${field} names`,
      );
      tensors.forEach((t, i) => {
        const meta = metadata[i];
        assert.ok(meta.isTensor);
        const info = infos[i].type!.tensorType!;
        const graphShape = info.shape!.dim!.map((d) => (d.dimParam ? -1 : Number(d.dimValue)));
        const ortShape = meta.shape.map((d) => (typeof d === 'number' && d > 0 ? d : -1));
        assert.deepEqual(ortShape, graphShape);
        const dataType = (one(t, 'data_type') as { enum: string }).enum;
        assert.equal(dataType, ORT_TO_TRITON[meta.type], `${field} ${names[i]} type`);
        assert.equal(dataType, ONNX_TO_TRITON[info.elemType!]);
        if (batched) assert.equal(graphShape[0], -1, 'a batched model leads with a dynamic dimension');
        assert.deepEqual(t.dims, batched ? graphShape.slice(1) : graphShape, `${field} ${names[i]} dims`);
      });
    }
  } finally {
    await session.release();
  }
}

const files = async (folder: string) => (await readdir(folder, { recursive: true })).map(String).sort();
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

describe('bnserve export --triton-repo', () => {
  const exportTo = (repo: string, extra: Record<string, unknown> = {}, env: Record<string, string> = SETTINGS) =>
    runExportCommand(
      {
        checkpoint: fixture.dir,
        out: path.join(dir, 'iris.onnx'),
        force: true,
        fold: true,
        opset: 17,
        tritonRepo: repo,
        name: 'iris-t',
        ...extra,
      },
      env,
    );

  test('writes config.pbtxt that matches the ONNX model and the serving settings, and the model bytes', { timeout: 120_000 }, async () => {
    const repo = path.join(dir, 'repo');
    const result = await exportTo(repo);
    assert.deepEqual(result.triton?.wrote, { config: true, model: true });
    assert.deepEqual(await files(repo), ['iris-t', 'iris-t/1', 'iris-t/1/model.onnx', 'iris-t/config.pbtxt']);

    const config = await readConfig(repo, 'iris-t');
    assert.equal(one(config, 'name'), 'iris-t');
    assert.equal(one(config, 'platform'), 'onnxruntime_onnx');
    assert.equal(one(config, 'max_batch_size'), 64);
    await assertConfigMatchesModel(config, path.join(repo, 'iris-t/1/model.onnx'));
    assert.deepEqual(
      (config.input as PbMessage[]).map((t) => t.dims),
      [[4]],
    );
    assert.deepEqual(
      (config.output as PbMessage[]).map((t) => t.dims),
      [[3]],
    );

    const batching = one<PbMessage>(config, 'dynamic_batching')!;
    assert.deepEqual(batching.preferred_batch_size, [8, 16], '128 exceeds max_batch_size: Triton would refuse it');
    assert.equal(one(batching, 'max_queue_delay_microseconds'), 500);
    const policy = one<PbMessage>(batching, 'default_queue_policy')!;
    assert.equal(one(policy, 'max_queue_size'), 100);
    assert.equal(one(policy, 'default_timeout_microseconds'), 20000);
    assert.deepEqual(one(policy, 'timeout_action'), { enum: 'REJECT' });
    assert.equal(one(policy, 'allow_timeout_override'), true);
    const groups = config.instance_group as PbMessage[];
    assert.equal(groups.length, 1);
    assert.equal(one(groups[0], 'count'), 2);
    assert.deepEqual(one(groups[0], 'kind'), { enum: 'KIND_CPU' });

    assert.deepEqual(await readFile(path.join(repo, 'iris-t/1/model.onnx')), await readFile(result.out));
  });

  test('an identical re-export is a no-op; a new version is added beside the old one', { timeout: 120_000 }, async () => {
    const repo = path.join(dir, 'repo-again');
    await exportTo(repo);
    const before = await Promise.all(['iris-t/config.pbtxt', 'iris-t/1/model.onnx'].map((f) => stat(path.join(repo, f))));
    const again = await exportTo(repo);
    assert.deepEqual(again.triton?.wrote, { config: false, model: false });
    const afterStats = await Promise.all(['iris-t/config.pbtxt', 'iris-t/1/model.onnx'].map((f) => stat(path.join(repo, f))));
    assert.deepEqual(
      afterStats.map((s) => [s.ino, s.mtimeMs]),
      before.map((s) => [s.ino, s.mtimeMs]),
      'files untouched',
    );
    assert.deepEqual(await files(repo), ['iris-t', 'iris-t/1', 'iris-t/1/model.onnx', 'iris-t/config.pbtxt'], 'no temp files left');

    const v2 = await exportTo(repo, { tritonVersion: 2 });
    assert.deepEqual(v2.triton?.wrote, { config: false, model: true });
    assert.deepEqual(await readFile(path.join(repo, 'iris-t/2/model.onnx')), await readFile(path.join(repo, 'iris-t/1/model.onnx')));
  });

  test('refuses to replace a different model in an existing version, and writes nothing', { timeout: 120_000 }, async () => {
    const repo = path.join(dir, 'repo-other-model');
    await mkdir(path.join(repo, 'iris-t/1'), { recursive: true });
    await writeFile(path.join(repo, 'iris-t/1/model.onnx'), 'the user’s own model');
    const out = path.join(dir, 'never-written.onnx');
    await assert.rejects(
      exportTo(repo, { out }),
      (e: Error) => e instanceof ExportError && /model\.onnx already exists with a different model/.test(e.message),
    );
    await assert.rejects(stat(out), { code: 'ENOENT' }, 'the refusal comes before --out is written');
    assert.equal(await readFile(path.join(repo, 'iris-t/1/model.onnx'), 'utf8'), 'the user’s own model');
    assert.deepEqual(await files(repo), ['iris-t', 'iris-t/1', 'iris-t/1/model.onnx'], 'no config.pbtxt, no temp files');
  });

  test('refuses to replace a different config.pbtxt (other settings), and writes no new version', { timeout: 120_000 }, async () => {
    const repo = path.join(dir, 'repo-other-config');
    await exportTo(repo);
    const original = await readFile(path.join(repo, 'iris-t/config.pbtxt'), 'utf8');
    await assert.rejects(
      exportTo(repo, { tritonVersion: 3 }, { ...SETTINGS, BNSERVE_BATCH_MAX_QUEUE_DELAY_US: '900' }),
      (e: Error) => e instanceof ExportError && /config\.pbtxt already exists with a different configuration/.test(e.message),
    );
    assert.equal(await readFile(path.join(repo, 'iris-t/config.pbtxt'), 'utf8'), original);
    assert.deepEqual(await files(repo), ['iris-t', 'iris-t/1', 'iris-t/1/model.onnx', 'iris-t/config.pbtxt']);
  });

  test('an image model: NHWC input dims [H, W, C] after the batch dimension', { timeout: 180_000 }, async () => {
    const cnn = await trainedCheckpoint({ layers: SMALL_CNN, image: { height: 8, width: 8, channels: 2 }, samples: 48, epochs: 1 });
    try {
      const repo = path.join(dir, 'repo-cnn');
      const out = path.join(dir, 'cnn.onnx');
      await runExportCommand({ checkpoint: cnn.dir, out, fold: true, opset: 17, tritonRepo: repo, name: 'cnn' }, SETTINGS);
      const config = await readConfig(repo, 'cnn');
      await assertConfigMatchesModel(config, out);
      assert.deepEqual((config.input as PbMessage[])[0].dims, [8, 8, 2]);
      assert.equal(one(config, 'max_batch_size'), 64);
    } finally {
      await cnn.cleanup();
    }
  });

  test('Triton options need --triton-repo; a bad model name is refused before the export', async () => {
    const base = { checkpoint: fixture.dir, out: path.join(dir, 'never.onnx'), fold: true, opset: 17 };
    await assert.rejects(runExportCommand({ ...base, tritonVersion: 2 }, SETTINGS), /--triton-version only apply with --triton-repo/);
    await assert.rejects(
      runExportCommand({ ...base, tritonRepo: dir, name: '../escape' }, SETTINGS),
      (e: Error) => e.name === 'ConfigError',
    );
    // The fixture's config.json is not a full training config: without --name, the name cannot be read from it.
    await assert.rejects(
      runExportCommand({ ...base, tritonRepo: dir }, SETTINGS),
      (e: Error) => e.name === 'CheckpointError' && /config\.json: /.test(e.message),
    );
    await assert.rejects(stat(base.out), { code: 'ENOENT' });
  });
});

describe('config.pbtxt from the ONNX graph', () => {
  const identityModel = (inputShape: Array<number | string>, outputShape: Array<number | string>) =>
    encodeModel(
      makeModel(
        makeGraph(
          'g',
          [makeNode('Identity', ['x'], ['y'])],
          [makeTensorValueInfo('x', FLOAT, inputShape)],
          [makeTensorValueInfo('y', FLOAT, outputShape)],
          [],
        ),
        { opset: 17, irVersion: 8, producerName: 't', producerVersion: '0', metadata: {} },
      ),
    );

  test('dynamic dims are -1; a model without a leading batch dimension gets max_batch_size 0, full dims, no dynamic_batching', () => {
    const fixed = onnxSignature(identityModel([2, 'n'], [2, 'n']));
    assert.deepEqual(fixed.inputs, [{ name: 'x', datatype: 'FP32', shape: [2, -1] }]);
    const config = parsePbtxt(formatConfigPbtxt(tritonModelConfig('m', fixed, DEFAULT_BATCHING, 'KIND_CPU')));
    assert.equal(one(config, 'max_batch_size'), 0);
    assert.deepEqual((config.input as PbMessage[])[0].dims, [2, -1]);
    assert.deepEqual((config.output as PbMessage[])[0].dims, [2, -1]);
    assert.equal(config.dynamic_batching, undefined);
  });

  test('batching off keeps max_batch_size but drops dynamic_batching; a batch-only tensor is dims [1] reshaped to []', () => {
    const signature = onnxSignature(identityModel(['batch'], ['batch']));
    const config = parsePbtxt(formatConfigPbtxt(tritonModelConfig('m', signature, { ...DEFAULT_BATCHING, enabled: false }, 'KIND_GPU')));
    assert.equal(one(config, 'max_batch_size'), DEFAULT_BATCHING.maxBatchSize);
    assert.equal(config.dynamic_batching, undefined);
    const input = (config.input as PbMessage[])[0];
    assert.deepEqual(input.dims, [1]);
    assert.deepEqual(one(input, 'reshape'), { shape: [] });
    assert.deepEqual(one((config.instance_group as PbMessage[])[0], 'kind'), { enum: 'KIND_GPU' });
  });

  test('names with quotes and backslashes survive the round trip', () => {
    const signature = {
      inputs: [{ name: 'a "b"\\c\n', datatype: 'FP32' as const, shape: [-1, 3] }],
      outputs: [{ name: 'y', datatype: 'FP32' as const, shape: [-1, 1] }],
    };
    const config = parsePbtxt(formatConfigPbtxt(tritonModelConfig('m', signature, DEFAULT_BATCHING, 'KIND_CPU')));
    assert.equal(one((config.input as PbMessage[])[0], 'name'), 'a "b"\\c\n');
  });

  test('settings: the model’s BNSERVE_MODEL_BATCHING override applies; the kind follows the providers', async () => {
    const target = await tritonTarget(
      { repo: dir, model: 'iris-t', version: 1 },
      { ...SETTINGS, BNSERVE_MODEL_BATCHING: '{"iris-t": {"maxBatchSize": 32}, "other": {"maxBatchSize": 8}}' },
    );
    assert.equal(target.batching.maxBatchSize, 32);
    assert.equal(target.batching.maxQueueSize, 100);
    assert.equal(target.kind, 'KIND_CPU');
    assert.equal((await tritonTarget({ repo: dir, model: 'iris-t', version: 1, kind: 'gpu' }, SETTINGS)).kind, 'KIND_GPU');
    assert.equal(instanceKindFor(['cuda', 'cpu']), 'KIND_AUTO');
    assert.equal(instanceKindFor(['cuda']), 'KIND_GPU');
    assert.equal(instanceKindFor(['cpu']), 'KIND_CPU');
  });
});

describe('repository writes', () => {
  test('createFileAtomic never replaces an existing file', async () => {
    const file = path.join(dir, 'exclusive.txt');
    await writeFile(file, 'mine');
    assert.equal(await createFileAtomic(file, 'theirs'), 'exists');
    assert.equal(await readFile(file, 'utf8'), 'mine');
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n.startsWith('exclusive.txt')),
      ['exclusive.txt'],
    );
  });

  test('a bad version or model name is refused', async () => {
    const entry = { repo: dir, model: 'm', version: 1, onnx: new Uint8Array([1]), config: 'name: "m"\n' };
    await assert.rejects(writeTritonRepoEntry({ ...entry, version: 0 }), /invalid Triton model version 0/);
    await assert.rejects(writeTritonRepoEntry({ ...entry, model: '..' }), /invalid Triton model name/);
  });

  test('a file where a folder of the entry goes (or a folder where a file goes) is refused before anything is written', async () => {
    const root = await mkdtemp(path.join(dir, 'layout-'));
    const entry = { model: 'm', version: 1, onnx: new Uint8Array([1]), config: 'name: "m"\n' };
    await writeFile(path.join(root, 'file'), 'mine');
    for (const [repo, problem] of [
      [path.join(root, 'file'), /file is a file, not a folder/],
      [path.join(root, 'file', 'below'), /file is not a folder/],
    ] as const) {
      await assert.rejects(
        writeTritonRepoEntry({ ...entry, repo }),
        (e: Error) =>
          e instanceof ExportError && /cannot write into the Triton model repository/.test(e.message) && problem.test(e.message),
      );
    }
    await mkdir(path.join(root, 'repo', 'm', 'config.pbtxt'), { recursive: true });
    await assert.rejects(writeTritonRepoEntry({ ...entry, repo: path.join(root, 'repo') }), /config\.pbtxt is not a regular file/);
    assert.deepEqual(await files(root), ['file', 'repo', 'repo/m', 'repo/m/config.pbtxt'], 'nothing written');
  });
});

describe('the CLI (bin/bnserve.js)', () => {
  test('export --triton-repo, then models triton-export of a registered version (sha256 checked)', { timeout: 300_000 }, async () => {
    const work = await mkdtemp(path.join(dir, 'cli-'));
    const env = { ...registryEnv(work), ...SETTINGS };
    const repo = path.join(work, 'triton');

    const exported = await runCli(
      ['export', '--checkpoint', fixture.dir, '--out', path.join(work, 'm.onnx'), '--triton-repo', repo, '--name', 'clf', '--json'],
      env,
    );
    assert.equal(exported.code, 0, exported.stderr);
    assert.deepEqual(JSON.parse(exported.stdout).triton.wrote, { config: true, model: true });
    await assertConfigMatchesModel(await readConfig(repo, 'clf'), path.join(repo, 'clf/1/model.onnx'));

    const human = await runCli(
      ['export', '--checkpoint', fixture.dir, '--out', path.join(work, 'm.onnx'), '--force', '--triton-repo', repo, '--name', 'clf'],
      env,
    );
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /triton: .*clf version 1: unchanged/);

    const registered = await runCli(['register', '--checkpoint', fixture.dir, '--name', 'clf', '--json'], env);
    assert.equal(registered.code, 0, registered.stderr);
    const { sha256: registeredSha } = JSON.parse(registered.stdout);
    const out = path.join(work, 'from-registry');
    const fromRegistry = await runCli(['models', 'triton-export', 'clf', '1', '--out', out, '--json'], env);
    assert.equal(fromRegistry.code, 0, fromRegistry.stderr);
    const json = JSON.parse(fromRegistry.stdout);
    assert.deepEqual([json.model, json.version, json.sha256], ['clf', 1, registeredSha]);
    assert.equal(sha256(await readFile(path.join(out, 'clf/1/model.onnx'))), registeredSha);
    const config = await readConfig(out, 'clf');
    assert.equal(one(config, 'name'), 'clf');
    await assertConfigMatchesModel(config, path.join(out, 'clf/1/model.onnx'));

    // A damaged artifact is refused by the registry (exit 4) and nothing is written.
    const stored = path.join(work, 'artifacts/sha256', registeredSha.slice(0, 2), `${registeredSha}.onnx`);
    await writeFile(stored, 'damaged');
    const damaged = await runCli(['models', 'triton-export', 'clf', '1', '--out', path.join(work, 'never')], env);
    assert.equal(damaged.code, 4, damaged.stderr);
    await assert.rejects(stat(path.join(work, 'never')), { code: 'ENOENT' });

    const unknown = await runCli(['models', 'triton-export', 'clf', 'production', '--out', out], env);
    assert.equal(unknown.code, 4, unknown.stderr);
    assert.match(unknown.stderr, /no version or alias production/);
    const badVersion = await runCli(
      ['export', '--checkpoint', fixture.dir, '--out', 'x.onnx', '--triton-repo', repo, '--triton-version', '0'],
      env,
    );
    assert.equal(badVersion.code, 2, badVersion.stderr);
  });
});
