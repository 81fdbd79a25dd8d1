import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ArtifactStore, artifactRelativePath } from '../../src/registry/artifact-store.ts';
import { ArtifactMissingError, RegistryError } from '../../src/registry/types.ts';

let root: string;
before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'bnserve-artifacts-'));
});
after(() => rm(root, { recursive: true, force: true }));

async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

const isIntegrityError = (error: unknown) => error instanceof RegistryError && error.code === 'integrity';

test('stores bytes under sha256/<first two hex>/<sha256>.onnx and leaves no temp file', async () => {
  const store = new ArtifactStore(path.join(root, 'layout'));
  const bytes = new Uint8Array(randomBytes(4096));
  const sha = createHash('sha256').update(bytes).digest('hex');
  const stored = await store.put(bytes);
  assert.equal(stored.sha256, sha);
  assert.equal(stored.size, 4096);
  assert.equal(stored.relativePath, `sha256/${sha.slice(0, 2)}/${sha}.onnx`);
  assert.equal(stored.absolutePath, path.join(store.root, 'sha256', sha.slice(0, 2), `${sha}.onnx`));
  assert.deepEqual(new Uint8Array(await readFile(stored.absolutePath)), bytes);
  assert.deepEqual(await listFiles(store.root), [stored.relativePath]);
});

test('the same bytes stored twice (also concurrently) give one file', async () => {
  const store = new ArtifactStore(path.join(root, 'dedupe'));
  const bytes = new Uint8Array(randomBytes(100_000));
  const results = await Promise.all([store.put(bytes), store.put(bytes), store.put(bytes)]);
  assert.equal(new Set(results.map((r) => r.absolutePath)).size, 1);
  assert.deepEqual(await listFiles(store.root), [results[0].relativePath]);
  assert.deepEqual(await store.read(results[0].relativePath, results[0].sha256), bytes);
});

test('read verifies the sha256: a tampered file is an integrity error', async () => {
  const store = new ArtifactStore(path.join(root, 'tamper'));
  const bytes = new Uint8Array(randomBytes(1024));
  const stored = await store.put(bytes);
  const tampered = Buffer.from(bytes);
  tampered[100] ^= 0xff;
  await writeFile(stored.absolutePath, tampered);
  await assert.rejects(store.read(stored.relativePath, stored.sha256), (error: unknown) => {
    assert.ok(isIntegrityError(error));
    assert.ok(!(error instanceof ArtifactMissingError), 'changed bytes are not a missing file');
    assert.match((error as Error).message, /does not match/);
    return true;
  });
});

test('a put over a corrupted file repairs it', async () => {
  const store = new ArtifactStore(path.join(root, 'repair'));
  const bytes = new Uint8Array(randomBytes(512));
  const stored = await store.put(bytes);
  await writeFile(stored.absolutePath, 'garbage');
  await store.put(bytes);
  assert.deepEqual(await store.read(stored.absolutePath, stored.sha256), bytes);
});

test('a missing artifact is an integrity error naming the file, of its own class (servers retry it)', async () => {
  const store = new ArtifactStore(path.join(root, 'missing'));
  const sha = 'ab'.repeat(32);
  await assert.rejects(store.read(artifactRelativePath(sha), sha), (error: unknown) => {
    assert.ok(isIntegrityError(error));
    assert.ok(error instanceof ArtifactMissingError);
    assert.match((error as Error).message, /missing/);
    return true;
  });
});

test('paths outside the store and malformed digests are rejected', async () => {
  const store = new ArtifactStore(path.join(root, 'escape'));
  await assert.rejects(store.read('../../etc/passwd', 'ab'.repeat(32)), { name: 'RegistryError', code: 'invalid' });
  assert.throws(() => artifactRelativePath('not-a-digest'), { name: 'RegistryError', code: 'invalid' });
});

test('sweepAbandonedTemps removes only temps of writers that are gone (same host, dead pid) or a day old', async () => {
  const { spawnSync } = await import('node:child_process');
  const { hostname } = await import('node:os');
  const { utimes } = await import('node:fs/promises');
  const store = new ArtifactStore(path.join(root, 'sweep'));
  const kept = await store.put(new Uint8Array(randomBytes(64)));
  const shard = path.dirname(kept.absolutePath);
  const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
  const host = hostname().replace(/[^A-Za-z0-9.]/g, '_');
  const base = path.basename(kept.absolutePath);
  const names = {
    deadWriter: `${base}.tmp-${host}-${deadPid}-0123456789ab`,
    liveWriter: `${base}.tmp-${host}-${process.pid}-0123456789ab`,
    otherHostFresh: `${base}.tmp-pod-7f9c-${deadPid}-0123456789ab`,
    otherHostOld: `${base}.tmp-pod-7f9d-${deadPid}-0123456789ab`,
    notOurs: `notes.txt.tmp-${host}-${deadPid}-0123456789ab`,
    userFile: 'readme.txt',
  };
  for (const name of Object.values(names)) await writeFile(path.join(shard, name), 'x');
  const twoDaysAgo = new Date(Date.now() - 2 * 24 * 3600 * 1000);
  await utimes(path.join(shard, names.otherHostOld), twoDaysAgo, twoDaysAgo);

  const removed = await store.sweepAbandonedTemps();
  const prefix = `sha256/${path.basename(shard)}/`;
  assert.deepEqual(removed.sort(), [prefix + names.deadWriter, prefix + names.otherHostOld].sort());
  assert.deepEqual((await readdir(shard)).sort(), [base, names.liveWriter, names.otherHostFresh, names.notOurs, names.userFile].sort());
});
