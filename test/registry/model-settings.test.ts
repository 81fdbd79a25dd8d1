// Per-model settings in the registry (`bnserve tune --apply` writes them, servers read them on
// every poll): the round trip, the checks on the way in, and a stored value that is not an override
// reported instead of breaking the read. SQLite, and PostgreSQL when a server answers.
import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { openRegistry, RegistryError, type Registry } from '../../src/registry/index.ts';
import { PROVIDERS, databaseFixture, type TestDatabase } from './support/databases.ts';
import { versionInput } from './support/inputs.ts';
import { sql } from './support/sql.ts';

function isRegistryError(code: RegistryError['code'], message: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

const TUNED = { enabled: true, maxBatchSize: 32, maxQueueDelayMicroseconds: 500, preferredBatchSizes: [16], instanceCount: 2 };

for (const provider of PROVIDERS) {
  describe(`model settings on ${provider}`, () => {
    const fixture = databaseFixture(provider);
    let registry: Registry | undefined;
    after(async () => {
      await registry?.close();
      await fixture.drop();
    });

    async function setup(t: TestContext): Promise<{ db: TestDatabase; registry: Registry } | null> {
      const db = await fixture.get(t);
      if (!db) return null;
      if (!registry) {
        registry = await openRegistry({ databaseUrl: db.url, artifactsDir: db.artifactsDir });
        await registry.registerVersion(versionInput('iris'));
        await registry.registerVersion(versionInput('wine'));
      }
      return { db, registry };
    }

    test('store, read back, replace and remove a batching override', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      assert.deepEqual(await r.listModelSettings!(), []);

      const stored = await r.setModelBatching!('iris', TUNED);
      assert.equal(stored?.name, 'iris');
      assert.deepEqual(stored?.batching, TUNED);
      assert.equal(stored?.problem, null);
      assert.ok(stored?.updatedAt instanceof Date);
      await r.setModelBatching!('wine', { maxQueueDelayMicroseconds: 0 });

      const listed = await r.listModelSettings!();
      assert.deepEqual(
        listed.map((s) => [s.name, s.batching, s.problem]),
        [
          ['iris', TUNED, null],
          ['wine', { maxQueueDelayMicroseconds: 0 }, null],
        ],
      );

      // Replaced as a whole: knobs not named again are gone.
      await r.setModelBatching!('iris', { maxBatchSize: 8 });
      assert.deepEqual((await r.listModelSettings!()).find((s) => s.name === 'iris')?.batching, { maxBatchSize: 8 });

      assert.equal(await r.setModelBatching!('iris', {}), null, 'an empty override removes the row');
      assert.deepEqual(
        (await r.listModelSettings!()).map((s) => s.name),
        ['wine'],
      );
      await r.setModelBatching!('wine', {});
    });

    test('refuses an override outside the schema and a model with no version, storing nothing', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      await assert.rejects(r.setModelBatching!('iris', { maxBatchSize: 0 }), isRegistryError('invalid', /maxBatchSize/));
      await assert.rejects(
        r.setModelBatching!('iris', { colour: 'red' } as unknown as Record<string, never>),
        isRegistryError('invalid', /invalid batching override/),
      );
      await assert.rejects(r.setModelBatching!('tulip', TUNED), isRegistryError('not_found', /model tulip has no registered versions/));
      await assert.rejects(r.setModelBatching!('no/such', TUNED), isRegistryError('invalid', /invalid model name/));
      assert.deepEqual(await r.listModelSettings!(), []);
    });

    test('a stored value that is not an override is reported on its row; the other rows still read', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      await r.setModelBatching!('wine', { maxBatchSize: 4 });
      const now = provider === 'sqlite' ? Date.now() : new Date();
      await sql(ctx.db, 'INSERT INTO "ModelSettings" ("name", "batching", "updatedAt") VALUES (?, ?, ?)', [
        'iris',
        JSON.stringify({ maxBatchSize: -3, turbo: true }),
        now,
      ]);
      const listed = await r.listModelSettings!();
      const iris = listed.find((s) => s.name === 'iris')!;
      assert.deepEqual(iris.batching, {});
      assert.match(iris.problem ?? '', /the stored batching override is not valid \(.*maxBatchSize/);
      assert.deepEqual(listed.find((s) => s.name === 'wine')?.batching, { maxBatchSize: 4 });
      await r.setModelBatching!('iris', {});
      await r.setModelBatching!('wine', {});
    });
  });
}
