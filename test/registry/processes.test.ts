// What several trainer processes, and killed ones, leave in the registry.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { openRegistry, type Registry } from '../../src/registry/index.ts';
import { PROVIDERS, databaseFixture } from './support/databases.ts';
import { spawnChild, type Child } from './support/processes.ts';

const VERSIONS_PER_CHILD = 8;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

async function kill(child: Child): Promise<void> {
  child.process.kill('SIGKILL');
  const exit = await child.exited;
  assert.equal(exit.signal, 'SIGKILL', `the child ended on its own: ${exit.stderr}`);
}

/** Every version row must point at a complete artifact (readArtifact verifies the sha256). */
async function assertEveryVersionHasItsArtifact(registry: Registry, name: string): Promise<number> {
  const versions = await registry.listVersions(name);
  for (const version of versions) {
    const bytes = await registry.readArtifact(version);
    assert.equal(bytes.byteLength, version.artifactSize);
  }
  return versions.length;
}

for (const provider of PROVIDERS) {
  describe(`trainer processes on ${provider}`, () => {
    const fixture = databaseFixture(provider);
    let registry: Registry | undefined;
    after(async () => {
      await registry?.close();
      await fixture.drop();
    });

    async function setup(t: import('node:test').TestContext) {
      const db = await fixture.get(t);
      if (!db) return null;
      registry ??= await openRegistry({ databaseUrl: db.url, artifactsDir: db.artifactsDir });
      return { db, registry };
    }

    test('concurrent registrations of one name from two processes get distinct versions', { timeout: 90_000 }, async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const children = [0, 1].map(() => spawnChild(['register', ctx.db.url, ctx.db.artifactsDir, 'shared', String(VERSIONS_PER_CHILD)]));
      for (const child of children) assert.deepEqual(await child.nextLine(), { ready: true });
      for (const child of children) child.process.stdin.end('go\n');
      const results = await Promise.all(children.map((child) => child.nextLine()));
      for (const child of children) {
        const exit = await child.exited;
        assert.equal(exit.code, 0, exit.stderr);
      }
      const claimed = results.flatMap((r) => r.versions as number[]).sort((a, b) => a - b);
      const expected = Array.from({ length: 2 * VERSIONS_PER_CHILD }, (_, i) => i + 1);
      assert.deepEqual(claimed, expected, 'each version number handed out exactly once');
      assert.deepEqual(
        (await ctx.registry.listVersions('shared')).map((v) => v.version),
        expected,
      );
      assert.equal(await assertEveryVersionHasItsArtifact(ctx.registry, 'shared'), 2 * VERSIONS_PER_CHILD);
    });

    test('a trainer killed mid-epoch leaves no version, and its run is failed by failStaleRuns', { timeout: 90_000 }, async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const child = spawnChild(['train-forever', ctx.db.url, ctx.db.artifactsDir, 'killed-mid-epoch']);
      const runId = String((await child.nextLine()).runId);
      await waitFor('three epochs', async () => ((await ctx.registry.getRun(runId))!.epochs.length >= 3 ? true : undefined));
      await kill(child);

      const orphan = await ctx.registry.getRun(runId);
      assert.equal(orphan?.status, 'running', 'nobody has noticed yet');
      assert.deepEqual(await ctx.registry.listVersions('killed-mid-epoch'), []);

      // The child heartbeats every 100 ms; 1.5 s of silence is beyond doubt. A live run is spared.
      await sleep(1_500);
      const alive = await ctx.registry.startRun({ name: 'alive', config: {}, backend: 'test', seed: null });
      assert.equal(await ctx.registry.failStaleRuns(1_000), 1);
      const failed = await ctx.registry.getRun(runId);
      assert.equal(failed?.status, 'failed');
      assert.match(failed?.error ?? '', /no heartbeat/);
      assert.ok(failed?.finishedAt);
      assert.ok((failed?.epochs.length ?? 0) >= 3, 'the recorded epochs are kept');
      assert.equal((await ctx.registry.getRun(alive.id))?.status, 'running');
      assert.equal(await ctx.registry.failStaleRuns(1_000), 0, 'idempotent');
      await ctx.registry.finishRun(alive.id, { status: 'succeeded' });
    });

    test('a process killed while writing an artifact leaves no version without its artifact', { timeout: 90_000 }, async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const child = spawnChild(['register-forever', ctx.db.url, ctx.db.artifactsDir, 'killed-mid-write', String(8 * 1024 * 1024)]);
      await child.nextLine(); // run started
      await child.nextLine(); // first version registered: the artifact folder exists
      const sawTempFile = await waitFor(
        'a temp file being written',
        async () => ((await readdir(ctx.db.artifactsDir, { recursive: true })).some((f) => f.includes('.tmp-')) ? true : undefined),
        10_000,
      ).catch(() => false);
      await kill(child);
      t.diagnostic(`killed ${sawTempFile ? 'while an artifact temp file existed' : 'between writes'}`);
      const count = await assertEveryVersionHasItsArtifact(ctx.registry, 'killed-mid-write');
      assert.ok(count >= 1);
    });
  });
}
