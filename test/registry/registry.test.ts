import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { after, describe, test } from 'node:test';
import { openRegistry, RegistryError, type Registry } from '../../src/registry/index.ts';
import { PROVIDERS, databaseFixture, type TestDatabase } from './support/databases.ts';
import { versionInput } from './support/inputs.ts';
import { sql } from './support/sql.ts';

function isRegistryError(code: RegistryError['code'], message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RegistryError, `expected a RegistryError, got ${String(error)}`);
    assert.equal(error.code, code);
    if (message) assert.match(error.message, message);
    return true;
  };
}

for (const provider of PROVIDERS) {
  describe(`registry on ${provider}`, () => {
    const fixture = databaseFixture(provider);
    let registry: Registry | undefined;
    after(async () => {
      await registry?.close();
      await fixture.drop();
    });

    async function setup(t: import('node:test').TestContext): Promise<{ db: TestDatabase; registry: Registry } | null> {
      const db = await fixture.get(t);
      if (!db) return null;
      registry ??= await openRegistry({ databaseUrl: db.url, artifactsDir: db.artifactsDir });
      return { db, registry };
    }

    test('register, list and show versions', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      const firstInput = versionInput('iris');
      const first = await r.registerVersion(firstInput);
      const second = await r.registerVersion(versionInput('iris', { folded: false, parityMaxAbsDiff: 0 }));
      await r.registerVersion(
        versionInput('wine', { task: 'regression', classLabels: [], outputs: [{ name: 'prediction', datatype: 'FP32', shape: [-1, 1] }] }),
      );
      assert.deepEqual([first.version, second.version], [1, 2]);
      assert.equal(first.artifactPath.startsWith(ctx.db.artifactsDir), true);
      assert.equal(first.artifactSize, 256);
      assert.match(first.artifactSha256, /^[0-9a-f]{64}$/);

      const models = await r.listModels();
      assert.deepEqual(models, [
        { name: 'iris', latestVersion: 2, latestUnflaggedVersion: 2, versionCount: 2, aliases: {} },
        { name: 'wine', latestVersion: 1, latestUnflaggedVersion: 1, versionCount: 1, aliases: {} },
      ]);
      const versions = await r.listVersions('iris');
      assert.deepEqual(
        versions.map((v) => v.version),
        [1, 2],
      );
      assert.deepEqual(versions[0], first);
      const input = versionInput('x');
      assert.deepEqual(
        {
          inputs: versions[1].inputs,
          outputs: versions[1].outputs,
          classLabels: versions[1].classLabels,
          featureNames: versions[1].featureNames,
        },
        { inputs: input.inputs, outputs: input.outputs, classLabels: input.classLabels, featureNames: input.featureNames },
      );
      assert.equal(versions[1].folded, false);
      assert.equal((await r.getVersion('iris', 1))?.artifactSha256, first.artifactSha256);
      assert.equal((await r.getVersion('iris', '2'))?.version, 2);
      assert.equal((await r.getVersion('iris'))?.version, 2, 'no production alias → latest');
      assert.equal(await r.getVersion('iris', 3), null);
      assert.equal(await r.getVersion('nope'), null);
      assert.equal((await r.getVersion('wine'))?.task, 'regression');
      assert.deepEqual(await r.readArtifact(versions[0]), firstInput.artifact);
    });

    test('runs: start, epochs (non-finite values survive as NaN), heartbeat, finish', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      const run = await r.startRun({ name: 'iris', config: { layers: [{ units: 8 }] }, backend: 'wasm', seed: 42 });
      assert.equal(run.status, 'running');
      await r.recordEpoch(run.id, { epoch: 1, loss: 0.5, dataLoss: 0.4, regularizationLoss: 0.1, metrics: { accuracy: 0.9 } });
      await r.recordEpoch(run.id, {
        epoch: 0,
        loss: Number.NaN,
        dataLoss: Infinity,
        regularizationLoss: 0,
        metrics: { accuracy: 0.3, valLoss: Number.NaN },
      });
      await r.heartbeat(run.id);
      await r.finishRun(run.id, { status: 'succeeded', bnSteps: 120 });
      const stored = await r.getRun(run.id);
      assert.ok(stored);
      assert.equal(stored.status, 'succeeded');
      assert.equal(stored.bnSteps, 120);
      assert.equal(stored.seed, 42);
      assert.deepEqual(stored.config, { layers: [{ units: 8 }] });
      assert.ok(stored.finishedAt && stored.finishedAt >= stored.startedAt);
      assert.deepEqual(
        stored.epochs.map((e) => e.epoch),
        [0, 1],
      );
      assert.ok(Number.isNaN(stored.epochs[0].loss) && Number.isNaN(stored.epochs[0].dataLoss));
      assert.ok(Number.isNaN(stored.epochs[0].metrics.valLoss));
      assert.deepEqual(stored.epochs[1], { epoch: 1, loss: 0.5, dataLoss: 0.4, regularizationLoss: 0.1, metrics: { accuracy: 0.9 } });

      await assert.rejects(
        r.recordEpoch('no-such-run', { epoch: 0, loss: 1, dataLoss: 1, regularizationLoss: 0, metrics: {} }),
        isRegistryError('not_found'),
      );
      await assert.rejects(r.finishRun('no-such-run', { status: 'failed', error: 'x' }), isRegistryError('not_found'));
      await assert.rejects(r.heartbeat('no-such-run'), isRegistryError('not_found'));
      await assert.rejects(r.registerVersion(versionInput('iris', { runId: 'no-such-run' })), isRegistryError('not_found'));
      assert.equal(await r.getRun('no-such-run'), null);
      const linked = await r.registerVersion(versionInput('linked', { runId: run.id }));
      assert.equal(linked.runId, run.id);
    });

    test('promote: moves the alias; a missing version fails cleanly and changes nothing', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      for (let i = 0; i < 3; i++) await r.registerVersion(versionInput('promo'));
      assert.deepEqual((await r.promote('promo', 1, 'production')).aliases, ['production']);
      assert.equal((await r.getVersion('promo'))?.version, 1, 'production alias wins over latest');
      await r.promote('promo', 3, 'staging');
      await r.promote('promo', 2, 'production');
      assert.equal((await r.getVersion('promo', 'production'))?.version, 2);
      assert.deepEqual((await r.listModels()).find((m) => m.name === 'promo')?.aliases, { production: 2, staging: 3 });
      assert.deepEqual((await r.getVersion('promo', 1))?.aliases, []);

      await assert.rejects(r.promote('promo', 9, 'production'), isRegistryError('not_found', /no version 9 \(versions: 1, 2, 3\)/));
      await assert.rejects(r.promote('ghost', 1, 'production'), isRegistryError('not_found', /no registered versions/));
      await assert.rejects(r.promote('promo', 1, '7'), isRegistryError('invalid'));
      await assert.rejects(r.promote('promo', 0, 'production'), isRegistryError('invalid'));
      await assert.rejects(r.promote('../etc', 1, 'production'), isRegistryError('invalid'));
      assert.equal((await r.getVersion('promo', 'production'))?.version, 2, 'failed promotions leave the alias alone');
      assert.equal(await r.getVersion('promo', 'canary'), null);
    });

    test('alias moves are atomic: concurrent readers always see exactly one target', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      for (let i = 0; i < 3; i++) await r.registerVersion(versionInput('atomic'));
      await r.promote('atomic', 1, 'production');
      const seen = new Set<number | null>();
      let moving = true;
      const readers = Array.from({ length: 3 }, async () => {
        // SQLite answers without a trip through the event loop: yield so the promotes' file reads progress.
        while (moving) {
          seen.add((await r.getVersion('atomic', 'production'))?.version ?? null);
          await new Promise((resolve) => setImmediate(resolve));
        }
      });
      const moves = Array.from({ length: 20 }, (_, i) => r.promote('atomic', 2 + (i % 2), 'production'));
      const missing = assert.rejects(r.promote('atomic', 4, 'production'), isRegistryError('not_found'));
      await Promise.all([...moves, missing]);
      moving = false;
      await Promise.all(readers);
      assert.ok(!seen.has(null), 'a reader found no production alias mid-move');
      assert.ok(
        [...seen].every((v) => v === 1 || v === 2 || v === 3),
        `unexpected targets ${[...seen]}`,
      );
      const rows = await sql(ctx.db, 'SELECT version FROM "ModelAlias" WHERE name = ? AND alias = ?', ['atomic', 'production']);
      assert.equal(rows.length, 1);
      assert.ok([2, 3].includes(Number(rows[0].version)));
    });

    test('the database itself enforces unique name+version and alias → existing version', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const v = await ctx.registry.registerVersion(versionInput('constrained'));
      const columns =
        '"name", "version", "artifactSha256", "artifactSize", "artifactPath", "opset", "inputs", "outputs", "task", "classLabels", "featureNames", "parityMaxAbsDiff", "folded", "createdAt"';
      const values = [
        'constrained',
        v.version,
        v.artifactSha256,
        1,
        'x',
        17,
        '[]',
        '[]',
        'regression',
        '[]',
        '[]',
        0,
        provider === 'sqlite' ? 1 : true,
        new Date().toISOString(),
      ];
      const placeholders = values.map(() => '?').join(', ');
      await assert.rejects(
        sql(ctx.db, `INSERT INTO "ModelVersion" (${columns}) VALUES (${placeholders})`, values),
        /UNIQUE|unique|duplicate/,
      );
      await assert.rejects(
        sql(ctx.db, 'INSERT INTO "ModelAlias" ("name", "alias", "version", "updatedAt") VALUES (?, ?, ?, ?)', [
          'constrained',
          'production',
          99,
          new Date().toISOString(),
        ]),
        /FOREIGN KEY|foreign key/,
      );
    });

    test('readArtifact detects a tampered artifact', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const v = await ctx.registry.registerVersion(versionInput('tamper'));
      assert.equal((await ctx.registry.readArtifact(v)).byteLength, 256);
      await writeFile(v.artifactPath, Buffer.alloc(256, 1));
      await assert.rejects(ctx.registry.readArtifact(v), isRegistryError('integrity', /sha256/));
    });

    test('promote refuses a version whose artifact fails its sha256 check, and the alias stays', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      const good = await r.registerVersion(versionInput('guarded'));
      const bad = await r.registerVersion(versionInput('guarded'));
      await r.promote('guarded', good.version, 'production');
      await writeFile(bad.artifactPath, Buffer.alloc(256, 7));
      await assert.rejects(r.promote('guarded', bad.version, 'production'), isRegistryError('integrity', /sha256/));
      await assert.rejects(r.promote('guarded', bad.version, 'canary'), isRegistryError('integrity'));
      assert.equal((await r.getVersion('guarded', 'production'))?.version, good.version);
      assert.equal(await r.getVersion('guarded', 'canary'), null);
    });

    test('registering a version sweeps temp files that a killed writer left in the artifact store', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const first = await ctx.registry.registerVersion(versionInput('swept'));
      const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
      const leftover = `${first.artifactPath}.tmp-${hostname().replace(/[^A-Za-z0-9.]/g, '_')}-${deadPid}-00000000abcd`;
      await writeFile(leftover, 'half an artifact');
      await ctx.registry.registerVersion(versionInput('swept'));
      assert.equal(existsSync(leftover), false);
      assert.equal(existsSync(first.artifactPath), true);
    });

    test('a version flagged by the BN guard is registered with its warning, not served by default, and promoted only with force', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      const healthy = await r.registerVersion(versionInput('guarded-bn'));
      const flagged = await r.registerVersion(versionInput('guarded-bn', { bnGuardWarning: 'only 7 BN updates' }));
      assert.equal(healthy.bnGuardWarning, null);
      assert.equal(flagged.bnGuardWarning, 'only 7 BN updates');
      assert.equal((await r.getVersion('guarded-bn', flagged.version))?.bnGuardWarning, 'only 7 BN updates');
      assert.equal((await r.getVersion('guarded-bn'))?.version, healthy.version, 'the default skips a flagged latest version');
      const summary = (await r.listModels()).find((m) => m.name === 'guarded-bn');
      assert.deepEqual([summary?.latestVersion, summary?.latestUnflaggedVersion], [flagged.version, healthy.version]);
      await assert.rejects(
        r.promote('guarded-bn', flagged.version, 'production'),
        isRegistryError('refused', /BN guard.*only 7 BN updates.*--force/),
      );
      assert.equal(await r.getVersion('guarded-bn', 'production'), null, 'the refused promotion moved nothing');
      assert.deepEqual((await r.promote('guarded-bn', flagged.version, 'production', { force: true })).aliases, ['production']);
      assert.equal((await r.getVersion('guarded-bn'))?.version, flagged.version, 'a forced alias is served');
      await assert.rejects(
        r.registerVersion(versionInput('guarded-bn', { bnGuardWarning: ' ' })),
        isRegistryError('invalid', /bnGuardWarning/),
      );
    });

    test('bad registrations are rejected before anything is stored', async (t) => {
      const ctx = await setup(t);
      if (!ctx) return;
      const r = ctx.registry;
      await assert.rejects(r.registerVersion(versionInput('bad name')), isRegistryError('invalid', /model name/));
      await assert.rejects(r.registerVersion(versionInput('bad', { artifact: new Uint8Array(0) })), isRegistryError('invalid', /artifact/));
      await assert.rejects(r.registerVersion(versionInput('bad', { parityMaxAbsDiff: Number.NaN })), isRegistryError('invalid', /parity/));
      await assert.rejects(
        r.registerVersion(versionInput('bad', { inputs: [{ name: 'input', datatype: 'FP32', shape: [0, 4] }] })),
        isRegistryError('invalid', /shape/),
      );
      await assert.rejects(r.startRun({ name: 'ok', config: {}, backend: '', seed: null }), isRegistryError('invalid'));
      assert.equal(
        (await r.listModels()).some((m) => m.name === 'bad'),
        false,
      );
    });
  });
}
