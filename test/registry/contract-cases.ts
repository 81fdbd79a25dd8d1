// The registry contract, written once: cases that every Registry (src/registry/types.ts) must pass.
// test/registry/contract.test.ts runs them against the Prisma registry (SQLite, PostgreSQL) and the
// serving tests' in-memory fake (test/serve/fake-registry.ts). The Prisma registry is the reference:
// where the fake answers differently, the fake is wrong (or the case found a bug in both).
import assert from 'node:assert/strict';
import {
  ArtifactMissingError,
  MAX_LISTED_RUNS,
  RegistryError,
  type ModelVersionRecord,
  type Registry,
  type RegistryErrorCode,
} from '../../src/registry/types.ts';
import { PRODUCTION_ALIAS } from '../../src/lib/names.ts';
import { versionInput } from './support/inputs.ts';

/** The time a registry reads (every timestamp it writes, and "now" for stale runs); moved only by the case. */
export class ContractClock {
  private ms = Date.UTC(2030, 0, 1, 12, 0, 0);
  readonly now = (): Date => new Date(this.ms);
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface ContractSubject {
  registry: Registry;
  /** Closes the registry and removes what the factory created. */
  close(): Promise<void>;
  /** Changes the stored bytes of a version's artifact (disk corruption, tampering). */
  corruptArtifact(version: ModelVersionRecord): Promise<void>;
  /** Takes a version's artifact out of the store (a deleted file). */
  removeArtifact(version: ModelVersionRecord): Promise<void>;
}

/** A fresh, empty registry reading time from the clock. */
export type ContractFactory = (clock: ContractClock) => Promise<ContractSubject>;

export interface ContractCase {
  name: string;
  run(subject: ContractSubject, clock: ContractClock): Promise<void>;
}

function isRegistryError(code: RegistryErrorCode, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof RegistryError, `expected a RegistryError('${code}'), got ${String(error)}`);
    assert.equal(error.code, code, `expected code '${code}', got '${error.code}': ${error.message}`);
    if (message) assert.match(error.message, message);
    return true;
  };
}

async function rejectsWith(promise: Promise<unknown>, code: RegistryErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(promise, isRegistryError(code, message));
}

async function versionOf(registry: Registry, name: string, ref?: number | string): Promise<number | null> {
  return (await registry.getVersion(name, ref))?.version ?? null;
}

async function register(registry: Registry, name: string, count: number, bnGuardWarning: string | null = null): Promise<number[]> {
  const versions: number[] = [];
  for (let i = 0; i < count; i++) versions.push((await registry.registerVersion(versionInput(name, { bnGuardWarning }))).version);
  return versions;
}

async function summary(registry: Registry, name: string) {
  return (await registry.listModels()).find((m) => m.name === name);
}

const epoch = (n: number, loss = 1 / (n + 1)) => ({ epoch: n, loss, dataLoss: loss, regularizationLoss: 0, metrics: { accuracy: n / 10 } });

/** Alias names the registry must refuse (promote and getVersion alike): see ALIAS in src/registry/validation.ts. */
const INVALID_ALIASES = ['', '-x', '_x', '.x', '1a', 'a b', 'a/b', 'a:b', 'é', '__proto__', 'a'.repeat(65)];
const PROTOTYPE_NAMES = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

export const CONTRACT_CASES: readonly ContractCase[] = [
  {
    name: `default version: the "${PRODUCTION_ALIAS}" alias when set, else the latest unflagged version; other aliases do not count`,
    async run({ registry: r }) {
      assert.equal(await r.getVersion('dflt'), null, 'no versions → null');
      await register(r, 'dflt', 2);
      assert.equal(await versionOf(r, 'dflt'), 2, 'no alias → the latest version');
      await register(r, 'dflt', 1, 'only 3 BN updates');
      assert.equal(await versionOf(r, 'dflt'), 2, 'a flagged latest version is skipped');
      await r.promote('dflt', 1, 'candidate');
      assert.equal(await versionOf(r, 'dflt'), 2, 'an alias other than production does not change the default');
      await r.promote('dflt', 1, PRODUCTION_ALIAS);
      assert.equal(await versionOf(r, 'dflt'), 1, 'production wins over the latest version');
      await register(r, 'dflt', 1);
      assert.equal(await versionOf(r, 'dflt'), 1, 'a newer version does not move production');
      await r.promote('dflt', 3, PRODUCTION_ALIAS, { force: true });
      assert.equal(await versionOf(r, 'dflt'), 3, 'a flagged version forced into production is the default');
      await register(r, 'other', 1);
      assert.equal(await versionOf(r, 'other'), 1, "one model's production alias does not affect another");
    },
  },
  {
    name: 'every version flagged: no default (getVersion → null), latestUnflaggedVersion 0, each version still readable by number and alias',
    async run({ registry: r }) {
      await register(r, 'allflagged', 2, 'BN statistics never updated');
      assert.equal(await r.getVersion('allflagged'), null);
      assert.deepEqual(await summary(r, 'allflagged'), {
        name: 'allflagged',
        latestVersion: 2,
        latestUnflaggedVersion: 0,
        versionCount: 2,
        aliases: {},
      });
      assert.equal(await versionOf(r, 'allflagged', 1), 1);
      await r.promote('allflagged', 2, 'canary', { force: true });
      assert.equal(await versionOf(r, 'allflagged', 'canary'), 2);
      assert.equal(await r.getVersion('allflagged'), null, 'a non-production alias gives no default either');
      await register(r, 'allflagged', 1);
      assert.equal(await versionOf(r, 'allflagged'), 3);
      assert.equal((await summary(r, 'allflagged'))?.latestUnflaggedVersion, 3);
    },
  },
  {
    name: "flagged-version refusal: promote without force → RegistryError('refused') and no alias moves; with force → moved",
    async run({ registry: r }) {
      await register(r, 'guard', 1);
      const [flagged] = await register(r, 'guard', 1, 'only 7 BN updates');
      await r.promote('guard', 1, PRODUCTION_ALIAS);
      for (const options of [undefined, {}, { force: false }]) {
        await rejectsWith(r.promote('guard', flagged, PRODUCTION_ALIAS, options), 'refused', /BN guard.*only 7 BN updates/);
        await rejectsWith(r.promote('guard', flagged, 'fresh', options), 'refused');
      }
      assert.equal(await versionOf(r, 'guard', PRODUCTION_ALIAS), 1, 'a refused promotion leaves the alias where it was');
      assert.equal(await r.getVersion('guard', 'fresh'), null, 'a refused promotion creates no alias');
      assert.deepEqual((await r.getVersion('guard', flagged))?.aliases, []);
      const forced = await r.promote('guard', flagged, PRODUCTION_ALIAS, { force: true });
      assert.equal(forced.version, flagged);
      assert.equal(forced.bnGuardWarning, 'only 7 BN updates');
      assert.deepEqual(forced.aliases, [PRODUCTION_ALIAS]);
      assert.equal(await versionOf(r, 'guard', PRODUCTION_ALIAS), flagged);
      assert.deepEqual(
        (await r.promote('guard', 1, 'canary', { force: true })).aliases,
        ['canary'],
        'force on an unflagged version is harmless',
      );
    },
  },
  {
    name: "promote errors: missing model or version → 'not_found', bad name, version or alias → 'invalid'; nothing moves",
    async run({ registry: r }) {
      await register(r, 'promo', 3);
      await r.promote('promo', 2, PRODUCTION_ALIAS);
      await rejectsWith(r.promote('promo', 9, PRODUCTION_ALIAS), 'not_found', /no version 9 \(versions: 1, 2, 3\)/);
      await rejectsWith(r.promote('ghost', 1, PRODUCTION_ALIAS), 'not_found', /no registered versions/);
      for (const version of [0, -1, 1.5, Number.NaN]) await rejectsWith(r.promote('promo', version, PRODUCTION_ALIAS), 'invalid');
      for (const name of ['', 'bad name', '../etc', '-x']) await rejectsWith(r.promote(name, 1, PRODUCTION_ALIAS), 'invalid');
      assert.equal(await versionOf(r, 'promo', PRODUCTION_ALIAS), 2);
      assert.deepEqual((await summary(r, 'promo'))?.aliases, { [PRODUCTION_ALIAS]: 2 });
    },
  },
  {
    name: 'aliases: set, move and read back per version (getVersion, listVersions, listModels); per model; unknown alias → null',
    async run({ registry: r }) {
      await register(r, 'ali', 3);
      await register(r, 'twin', 2);
      assert.deepEqual((await r.promote('ali', 1, 'staging')).aliases, ['staging']);
      assert.deepEqual((await r.promote('ali', 1, PRODUCTION_ALIAS)).aliases, [PRODUCTION_ALIAS, 'staging'], 'sorted by name');
      assert.deepEqual((await r.promote('ali', 2, PRODUCTION_ALIAS)).aliases, [PRODUCTION_ALIAS], 'the record after the move');
      await r.promote('twin', 2, PRODUCTION_ALIAS);
      assert.deepEqual((await r.getVersion('ali', 1))?.aliases, ['staging']);
      assert.deepEqual((await r.getVersion('ali', 'staging'))?.aliases, ['staging']);
      assert.deepEqual((await r.getVersion('ali', PRODUCTION_ALIAS))?.version, 2);
      assert.deepEqual(
        (await r.listVersions('ali')).map((v) => [v.version, v.aliases]),
        [
          [1, ['staging']],
          [2, [PRODUCTION_ALIAS]],
          [3, []],
        ],
      );
      assert.deepEqual((await summary(r, 'ali'))?.aliases, { [PRODUCTION_ALIAS]: 2, staging: 1 });
      assert.deepEqual((await summary(r, 'twin'))?.aliases, { [PRODUCTION_ALIAS]: 2 }, 'the same alias name on another model is its own');
      await r.promote('ali', 2, PRODUCTION_ALIAS);
      assert.deepEqual((await r.getVersion('ali', 2))?.aliases, [PRODUCTION_ALIAS], 'promoting to the current target is a no-op');
      await r.promote('ali', 3, 'staging');
      assert.deepEqual((await r.getVersion('ali', 1))?.aliases, [], 'a moved alias leaves its old version');
      assert.equal(await r.getVersion('ali', 'canary'), null, 'unknown alias');
      assert.equal(await r.getVersion('ali', 'Staging'), null, 'alias names are case-sensitive');
      assert.equal(await r.getVersion('ghost', PRODUCTION_ALIAS), null, 'alias of an unknown model');
      assert.deepEqual(await r.listVersions('ghost'), []);
    },
  },
  {
    name: "alias name rules: a letter, then letters, digits, '.', '_', '-' (≤ 64); numeric strings are version numbers",
    async run({ registry: r }) {
      await register(r, 'rules', 2);
      for (const alias of ['a', 'Z', 'canary-2.b_c', 'a'.repeat(64)]) {
        assert.deepEqual((await r.promote('rules', 1, alias)).aliases.includes(alias), true, alias);
        assert.equal(await versionOf(r, 'rules', alias), 1, alias);
      }
      for (const alias of [...INVALID_ALIASES, '7']) await rejectsWith(r.promote('rules', 1, alias), 'invalid');
      for (const alias of INVALID_ALIASES) await rejectsWith(r.getVersion('rules', alias), 'invalid');
      assert.equal(await versionOf(r, 'rules', '2'), 2, "'2' reads version 2");
      assert.equal(await versionOf(r, 'rules', '002'), 2, "'002' reads version 2");
      assert.equal(await r.getVersion('rules', '3'), null, 'a numeric string of a missing version');
      await rejectsWith(r.getVersion('rules', '0'), 'invalid');
      assert.deepEqual(Object.keys((await summary(r, 'rules'))?.aliases ?? {}).sort(), ['Z', 'a', 'a'.repeat(64), 'canary-2.b_c']);
    },
  },
  {
    name: "prototype names ('constructor', 'toString', ...) are ordinary alias and model names",
    async run({ registry: r }) {
      await register(r, 'proto', 3);
      for (const alias of PROTOTYPE_NAMES) assert.equal(await r.getVersion('proto', alias), null, `unset alias ${alias}`);
      assert.equal(await versionOf(r, 'proto'), 3);
      assert.deepEqual((await summary(r, 'proto'))?.aliases, {});
      await r.promote('proto', 1, 'constructor');
      await r.promote('proto', 2, 'toString');
      assert.equal(await versionOf(r, 'proto', 'constructor'), 1);
      assert.equal(await versionOf(r, 'proto', 'toString'), 2);
      assert.equal(await r.getVersion('proto', 'hasOwnProperty'), null);
      assert.equal(await versionOf(r, 'proto'), 3, 'the default is not confused by prototype-named aliases');
      const aliases = (await summary(r, 'proto'))?.aliases;
      assert.deepEqual(aliases, { constructor: 1, toString: 2 });
      assert.ok(aliases && Object.hasOwn(aliases, 'constructor') && !Object.hasOwn(aliases, 'valueOf'));
      for (const name of PROTOTYPE_NAMES) {
        assert.equal(await r.getVersion(name), null, `unknown model ${name}`);
        assert.equal((await r.registerVersion(versionInput(name))).version, 1, name);
        assert.equal(await versionOf(r, name), 1, name);
      }
      assert.deepEqual(
        (await r.listModels()).map((m) => m.name),
        [...PROTOTYPE_NAMES, 'proto'].sort(),
      );
      await rejectsWith(r.registerVersion(versionInput('__proto__')), 'invalid');
      await rejectsWith(r.getVersion('__proto__'), 'invalid');
    },
  },
  {
    name: "registerVersion numbers 1, 2, 3 per name, names independent; invalid input → 'invalid' and no number used",
    async run({ registry: r }) {
      assert.deepEqual(await register(r, 'alpha', 3), [1, 2, 3]);
      assert.deepEqual(await register(r, 'beta', 2), [1, 2]);
      assert.deepEqual(await register(r, 'Alpha', 1), [1], 'names are case-sensitive');
      await rejectsWith(r.registerVersion(versionInput('alpha', { artifact: new Uint8Array(0) })), 'invalid', /artifact/);
      await rejectsWith(r.registerVersion(versionInput('alpha', { parityMaxAbsDiff: Number.NaN })), 'invalid', /parity/);
      await rejectsWith(r.registerVersion(versionInput('alpha', { bnGuardWarning: ' ' })), 'invalid', /bnGuardWarning/);
      await rejectsWith(r.registerVersion(versionInput('bad name')), 'invalid', /model name/);
      await rejectsWith(r.registerVersion(versionInput('alpha', { runId: 'no-such-run' })), 'not_found');
      assert.deepEqual(await register(r, 'alpha', 1), [4], 'failed registrations use no number');
      const concurrent = await Promise.all(Array.from({ length: 4 }, () => r.registerVersion(versionInput('gamma'))));
      assert.deepEqual(concurrent.map((v) => v.version).sort(), [1, 2, 3, 4], 'concurrent registrations get distinct numbers');
      assert.deepEqual(
        (await r.listVersions('alpha')).map((v) => v.version),
        [1, 2, 3, 4],
      );
      // Sorted here: listModels orders by the database's collation, which places 'Alpha' differently on PostgreSQL outside C locales.
      assert.deepEqual(
        (await r.listModels()).map((m) => [m.name, m.latestVersion, m.versionCount]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        [
          ['Alpha', 1, 1],
          ['alpha', 4, 4],
          ['beta', 2, 2],
          ['gamma', 4, 4],
        ],
      );
      const input = versionInput('beta', { bnGuardWarning: 'flagged' });
      const record = await r.registerVersion(input);
      assert.equal(record.version, 3);
      assert.deepEqual(record.aliases, []);
      assert.equal(record.bnGuardWarning, 'flagged');
      assert.equal(record.artifactSize, input.artifact.byteLength);
      assert.deepEqual(await r.getVersion('beta', 3), record, 'getVersion reads back what registerVersion returned');
    },
  },
  {
    name: "getVersion of a missing model, version or alias → null; a bad name or version number → 'invalid'",
    async run({ registry: r }) {
      assert.equal(await r.getVersion('nope'), null);
      assert.equal(await r.getVersion('nope', 1), null);
      assert.equal(await r.getVersion('nope', 'canary'), null);
      await register(r, 'here', 2);
      assert.equal(await r.getVersion('here', 3), null);
      assert.equal(await r.getVersion('here', 99), null);
      assert.equal(await r.getVersion('here', 'ghost'), null);
      for (const version of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) await rejectsWith(r.getVersion('here', version), 'invalid');
      for (const name of ['', 'bad name', '../here', '-x']) {
        await rejectsWith(r.getVersion(name), 'invalid');
        await rejectsWith(r.listVersions(name), 'invalid');
      }
      assert.equal(await versionOf(r, 'here', 1), 1);
    },
  },
  {
    name: 'stale runs: failStaleRuns fails running runs with no heartbeat for more than staleMs, and leaves the others',
    async run({ registry: r }, clock) {
      const dead = await r.startRun({ name: 'dead', config: {}, backend: 'cpu', seed: null });
      const beating = await r.startRun({ name: 'beating', config: {}, backend: 'cpu', seed: null });
      const training = await r.startRun({ name: 'training', config: {}, backend: 'cpu', seed: null });
      const done = await r.startRun({ name: 'done', config: {}, backend: 'cpu', seed: null });
      const crashed = await r.startRun({ name: 'crashed', config: {}, backend: 'cpu', seed: null });
      await r.finishRun(done.id, { status: 'succeeded', bnSteps: 4 });
      await r.finishRun(crashed.id, { status: 'failed', error: 'diverged' });
      assert.equal(await r.failStaleRuns(0), 0, 'heartbeats of this very instant are not older than 0 ms');

      clock.advance(10_000);
      await r.heartbeat(beating.id);
      await r.recordEpoch(training.id, epoch(0)); // recording an epoch is a sign of life too
      assert.equal(await r.failStaleRuns(5_000), 1);
      const failed = await r.getRun(dead.id);
      assert.equal(failed?.status, 'failed');
      assert.match(failed?.error ?? '', /no heartbeat/);
      assert.deepEqual(failed?.finishedAt, clock.now());
      assert.deepEqual(failed?.heartbeatAt, new Date(clock.now().getTime() - 10_000), 'the last heartbeat stays as it was');
      for (const run of [beating, training]) assert.equal((await r.getRun(run.id))?.status, 'running', run.name);
      assert.deepEqual((await r.getRun(beating.id))?.heartbeatAt, clock.now());
      assert.equal((await r.getRun(done.id))?.status, 'succeeded', 'finished runs are left alone');
      assert.equal((await r.getRun(crashed.id))?.error, 'diverged', 'a failed run keeps its own error');

      clock.advance(5_000);
      assert.equal(await r.failStaleRuns(5_000), 0, 'exactly staleMs old is not stale yet');
      clock.advance(1);
      assert.equal(await r.failStaleRuns(5_000), 2);
      assert.equal(await r.failStaleRuns(5_000), 0, 'idempotent');
      assert.deepEqual(
        (await r.listRuns({ status: 'running' })).map((run) => run.name),
        [],
      );

      await r.heartbeat(beating.id); // a late heartbeat of a run presumed dead does not revive it
      assert.equal((await r.getRun(beating.id))?.status, 'failed');
      await r.finishRun(beating.id, { status: 'succeeded', bnSteps: 9 }); // but its real outcome wins
      const finished = await r.getRun(beating.id);
      assert.deepEqual([finished?.status, finished?.error, finished?.bnSteps], ['succeeded', null, 9]);

      for (const staleMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) await rejectsWith(r.failStaleRuns(staleMs), 'invalid');
      await rejectsWith(r.heartbeat('no-such-run'), 'not_found');
    },
  },
  {
    name: 'runs: start, record epochs (re-recorded epochs replace, non-finite → NaN), finish; records are snapshots',
    async run({ registry: r }, clock) {
      const started = clock.now();
      const run = await r.startRun({ name: 'life', config: { layers: [8] }, backend: 'wasm', seed: 7 });
      assert.deepEqual(
        { ...run, id: 'x' },
        {
          id: 'x',
          name: 'life',
          status: 'running',
          backend: 'wasm',
          config: { layers: [8] },
          seed: 7,
          bnSteps: null,
          error: null,
          startedAt: started,
          finishedAt: null,
          heartbeatAt: started,
        },
      );
      const snapshot = await r.getRun(run.id);
      await r.recordEpoch(run.id, epoch(1));
      await r.recordEpoch(run.id, epoch(0));
      await r.recordEpoch(run.id, { ...epoch(1), loss: Number.POSITIVE_INFINITY });
      clock.advance(1_000);
      await r.finishRun(run.id, { status: 'failed' });
      assert.equal(snapshot?.status, 'running', 'a record read earlier does not change afterwards');
      assert.deepEqual(snapshot?.epochs, []);
      const stored = await r.getRun(run.id);
      assert.deepEqual(
        stored?.epochs.map((e) => e.epoch),
        [0, 1],
        'epochs in order, one per number',
      );
      assert.ok(Number.isNaN(stored?.epochs[1].loss));
      assert.deepEqual([stored?.status, stored?.error, stored?.bnSteps, stored?.finishedAt], ['failed', 'failed', null, clock.now()]);
      await r.finishRun(run.id, { status: 'succeeded', bnSteps: 12 });
      await r.finishRun(run.id, { status: 'succeeded' });
      const again = await r.getRun(run.id);
      assert.deepEqual([again?.status, again?.error, again?.bnSteps], ['succeeded', null, 12], 'bnSteps omitted keeps the recorded value');
      await rejectsWith(r.finishRun(run.id, { status: 'running' as never }), 'invalid');
      await rejectsWith(r.recordEpoch(run.id, epoch(-1)), 'invalid');
      await rejectsWith(r.recordEpoch('no-such-run', epoch(0)), 'not_found');
      await rejectsWith(r.finishRun('no-such-run', { status: 'failed' }), 'not_found');
      await rejectsWith(r.startRun({ name: 'bad name', config: {}, backend: 'cpu', seed: null }), 'invalid');
      await rejectsWith(r.startRun({ name: 'ok', config: {}, backend: '', seed: null }), 'invalid');
      await rejectsWith(r.startRun({ name: 'ok', config: {}, backend: 'cpu', seed: 1.5 }), 'invalid');
      assert.equal(await r.getRun('no-such-run'), null);
    },
  },
  {
    name: 'listRuns: newest first (ties by id), exact name and status filters, limit, last epoch and versions of each run',
    async run({ registry: r }, clock) {
      const iris1 = await r.startRun({ name: 'iris', config: {}, backend: 'cpu', seed: 1 });
      for (const n of [0, 2, 1]) await r.recordEpoch(iris1.id, epoch(n));
      await r.finishRun(iris1.id, { status: 'succeeded', bnSteps: 3 });
      await r.registerVersion(versionInput('iris', { runId: iris1.id }));
      await r.registerVersion(versionInput('iris', { runId: iris1.id, bnGuardWarning: 'few BN updates' }));
      clock.advance(1_000);
      const wine = await r.startRun({ name: 'wine', config: {}, backend: 'cpu', seed: null });
      await r.finishRun(wine.id, { status: 'failed', error: 'diverged' });
      clock.advance(1_000);
      const iris2 = await r.startRun({ name: 'iris', config: {}, backend: 'cpu', seed: 2 });
      const iris3 = await r.startRun({ name: 'iris', config: {}, backend: 'cpu', seed: 3 }); // same startedAt as iris2
      const [tieFirst, tieSecond] = [iris2.id, iris3.id].sort();

      const ids = async (filter?: Parameters<Registry['listRuns']>[0]) => (await r.listRuns(filter)).map((run) => run.id);
      assert.deepEqual(await ids(), [tieFirst, tieSecond, wine.id, iris1.id]);
      assert.deepEqual(await ids({ name: 'iris' }), [tieFirst, tieSecond, iris1.id]);
      assert.deepEqual(await ids({ name: 'iri' }), [], 'names match exactly');
      assert.deepEqual(await ids({ name: 'IRIS' }), []);
      assert.deepEqual(await ids({ status: 'failed' }), [wine.id]);
      assert.deepEqual(await ids({ status: 'succeeded' }), [iris1.id]);
      assert.deepEqual(await ids({ name: 'iris', status: 'running' }), [tieFirst, tieSecond]);
      assert.deepEqual(await ids({ name: 'wine', status: 'running' }), []);
      assert.deepEqual(await ids({ limit: 2 }), [tieFirst, tieSecond]);
      assert.deepEqual(await ids({ limit: 3, name: 'iris', status: 'succeeded' }), [iris1.id]);
      assert.deepEqual(await ids({ limit: MAX_LISTED_RUNS }), await ids());

      const [first] = await r.listRuns({ status: 'succeeded' });
      assert.equal(first.epochCount, 3);
      assert.deepEqual(first.lastEpoch, epoch(2), 'the last epoch is the highest number, not the last recorded');
      assert.equal(first.bnSteps, 3);
      assert.deepEqual(first.versions, [
        { name: 'iris', version: 1, bnGuardWarning: null },
        { name: 'iris', version: 2, bnGuardWarning: 'few BN updates' },
      ]);
      const [failed] = await r.listRuns({ name: 'wine' });
      assert.deepEqual([failed.epochCount, failed.lastEpoch, failed.versions, failed.error], [0, null, [], 'diverged']);

      for (const limit of [0, -1, 1.5, MAX_LISTED_RUNS + 1]) await rejectsWith(r.listRuns({ limit }), 'invalid', /limit/);
      await rejectsWith(r.listRuns({ status: 'done' as never }), 'invalid', /status/);
      await rejectsWith(r.listRuns({ name: 'bad name' }), 'invalid');
    },
  },
  {
    name: "readArtifact: the registered bytes (a copy); changed bytes → 'integrity'; a missing file → ArtifactMissingError; promote checks it first",
    async run(subject) {
      const r = subject.registry;
      const input = versionInput('art');
      const [good, changed, missing] = [
        await r.registerVersion(input),
        await r.registerVersion(versionInput('art')),
        await r.registerVersion(versionInput('art')),
      ];
      const bytes = await r.readArtifact(good);
      assert.deepEqual(bytes, input.artifact);
      bytes.fill(0);
      assert.deepEqual(await r.readArtifact(good), input.artifact, 'changing the returned bytes does not change the store');
      assert.deepEqual(await r.readArtifact((await r.getVersion('art', 1))!), input.artifact);

      await r.promote('art', good.version, PRODUCTION_ALIAS);
      await subject.corruptArtifact(changed);
      await assert.rejects(
        r.readArtifact(changed),
        (error) => isRegistryError('integrity', /sha256/)(error) && !(error instanceof ArtifactMissingError),
      );
      await subject.removeArtifact(missing);
      await assert.rejects(
        r.readArtifact(missing),
        (error) => error instanceof ArtifactMissingError && isRegistryError('integrity')(error),
      );

      for (const target of [changed, missing]) {
        await rejectsWith(r.promote('art', target.version, PRODUCTION_ALIAS), 'integrity');
        await rejectsWith(r.promote('art', target.version, 'canary', { force: true }), 'integrity', /./);
      }
      assert.equal(await versionOf(r, 'art', PRODUCTION_ALIAS), good.version, 'an alias never moves to an unreadable artifact');
      assert.equal(await r.getVersion('art', 'canary'), null);
      assert.deepEqual(await r.readArtifact(good), input.artifact, 'other versions are unaffected');
    },
  },
];
