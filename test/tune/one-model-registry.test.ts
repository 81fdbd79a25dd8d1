// The registry the tuning server sees: only the tuned model (so it loads nothing else), reads
// passed through, writes refused, and closing it leaves the real registry open.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RegistryError, type ModelSettingsRecord, type Registry } from '../../src/registry/types.ts';
import { OneModelRegistry } from '../../src/tune/one-model-registry.ts';
import { FakeRegistry } from '../serve/fake-registry.ts';
import { randomMlp, versionInput } from '../serve/fixtures.ts';

test('lists only the tuned model, reads through, refuses writes, and does not close the real registry', async () => {
  const real = new FakeRegistry();
  await real.registerVersion(versionInput('iris', randomMlp(1, 4, 6, 3), 'classification'));
  await real.registerVersion(versionInput('wine', randomMlp(2, 4, 6, 1), 'regression'));
  const one = new OneModelRegistry(real, 'iris');

  assert.deepEqual(
    (await one.listModels()).map((m) => m.name),
    ['iris'],
  );
  assert.equal((await one.getVersion('iris'))?.version, 1);
  assert.equal(await one.failStaleRuns(), 0);
  await assert.rejects(one.promote(), (e: unknown) => e instanceof RegistryError && e.code === 'refused');
  await assert.rejects(one.registerVersion(versionInput('iris', randomMlp(3, 4, 6, 3), 'classification')), RegistryError);
  assert.equal(one.listModelSettings, undefined, 'a registry that stores no settings stays one');

  await one.close();
  assert.equal((await real.listModels()).length, 2, 'the real registry is still open');
});

test('stored settings: only the tuned model’s', async () => {
  const row = (name: string): ModelSettingsRecord => ({ name, batching: { maxBatchSize: 8 }, problem: null, updatedAt: new Date(0) });
  const real = { listModelSettings: async () => [row('iris'), row('wine')] } as Partial<Registry> as Registry;
  const one = new OneModelRegistry(real, 'wine');
  assert.deepEqual(
    (await one.listModelSettings!()).map((s) => s.name),
    ['wine'],
  );
});
