import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openRegistry, RegistryError } from '../../src/registry/index.ts';
import { databaseFixture, PROVIDERS } from './support/databases.ts';
import { versionInput } from './support/inputs.ts';

for (const provider of PROVIDERS) {
  test(`listRuns on ${provider}: newest first, filtered by name and status, with the last epoch and the versions of each run`, async (t) => {
    const fixture = databaseFixture(provider);
    t.after(() => fixture.drop());
    const db = await fixture.get(t);
    if (!db) return;
    const registry = await openRegistry({ databaseUrl: db.url, artifactsDir: db.artifactsDir });
    t.after(() => registry.close());

    const iris = await registry.startRun({ name: 'iris', config: { epochs: 2 }, backend: 'cpu', seed: 1 });
    for (const epoch of [0, 1]) {
      await registry.recordEpoch(iris.id, {
        epoch,
        loss: 1 / (epoch + 1),
        dataLoss: 1,
        regularizationLoss: 0,
        metrics: { accuracy: 0.5 + epoch / 4 },
      });
    }
    await registry.finishRun(iris.id, { status: 'succeeded', bnSteps: 8 });
    await registry.registerVersion(versionInput('iris', { runId: iris.id, bnGuardWarning: 'stale' }));

    await new Promise((resolve) => setTimeout(resolve, 5)); // distinct startedAt
    const diverged = await registry.startRun({ name: 'adaline', config: {}, backend: 'cpu', seed: null });
    await registry.recordEpoch(diverged.id, { epoch: 0, loss: Number.POSITIVE_INFINITY, dataLoss: 1, regularizationLoss: 0, metrics: {} });
    await registry.finishRun(diverged.id, { status: 'failed', error: 'diverged' });

    const all = await registry.listRuns();
    assert.deepEqual(
      all.map((r) => r.name),
      ['adaline', 'iris'],
    );
    const [a, b] = all;
    assert.equal(a.epochCount, 1);
    assert.ok(Number.isNaN(a.lastEpoch?.loss), 'a non-finite loss reads back as NaN');
    assert.deepEqual(a.versions, []);
    assert.equal(b.epochCount, 2);
    assert.equal(b.lastEpoch?.epoch, 1);
    assert.equal(b.lastEpoch?.metrics.accuracy, 0.75);
    assert.equal(b.bnSteps, 8);
    assert.deepEqual(b.versions, [{ name: 'iris', version: 1, bnGuardWarning: 'stale' }]);

    assert.deepEqual(
      (await registry.listRuns({ name: 'iris' })).map((r) => r.id),
      [iris.id],
    );
    assert.deepEqual(
      (await registry.listRuns({ status: 'failed' })).map((r) => r.id),
      [diverged.id],
    );
    assert.deepEqual(
      (await registry.listRuns({ limit: 1 })).map((r) => r.id),
      [diverged.id],
    );
    await assert.rejects(registry.listRuns({ limit: 0 }), (e) => e instanceof RegistryError && e.code === 'invalid');
    await assert.rejects(
      registry.listRuns({ status: 'done' as never }),
      (e) => e instanceof RegistryError && e.code === 'invalid' && /status/.test(e.message),
    );
  });
}
