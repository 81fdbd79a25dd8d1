import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { BnserveError } from '../../src/lib/errors.ts';
import { RegistryError, type ModelVersionRecord } from '../../src/registry/types.ts';
import { resolveServeConfig } from '../../src/serve/index.ts';
import { chooseEvictions, LoadWaitError, overBudget, type BudgetOptions } from '../../src/serve/dataplane/model-budget.ts';
import { ModelManager, UNLOADED_BY_BUDGET, type ManagerLog } from '../../src/serve/dataplane/model-manager.ts';
import { ProviderChain } from '../../src/serve/dataplane/providers.ts';
import { grpcStatusFor } from '../../src/serve/grpc/status.ts';
import { HTTP_STATUS } from '../../src/serve/http/plugins/errors.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, maxAbsDiff, mlpReference, randomMlp, versionInput, type MlpParams } from './fixtures.ts';

const quiet: ManagerLog = { info: () => {}, warn: () => {}, error: () => {} };
const MODELS = ['m0', 'm1', 'm2'];

/** A registry whose artifact reads can be held until released (a slow load, without timing). */
class GatedRegistry extends FakeRegistry {
  gate: Promise<void> | null = null;
  /** Only this model's reads wait at the gate (null: every model's). */
  gatedModel: string | null = null;
  promoteGate: Promise<void> | null = null;
  /** The next artifact read of this model fails as an unreachable registry does (a retryable failure). */
  unavailableOnce: string | null = null;
  override async readArtifact(version: ModelVersionRecord): Promise<Uint8Array> {
    if (this.unavailableOnce === version.name) {
      this.unavailableOnce = null;
      throw new RegistryError('unavailable', 'the registry is unreachable');
    }
    if (this.gate && (this.gatedModel === null || this.gatedModel === version.name)) await this.gate;
    return super.readArtifact(version);
  }
  override async promote(...args: Parameters<FakeRegistry['promote']>): ReturnType<FakeRegistry['promote']> {
    if (this.promoteGate) await this.promoteGate;
    return super.promote(...args);
  }
}

async function setup(budget: Partial<BudgetOptions>, opts: { alias?: string; now?: () => number } = {}) {
  const registry = new GatedRegistry();
  const params = new Map<string, MlpParams>();
  for (const [i, name] of MODELS.entries()) {
    const p = randomMlp(500 + i);
    params.set(name, p);
    await registry.registerVersion(versionInput(name, p, 'classification'));
  }
  if (opts.alias) await registry.promote(opts.alias, 1, 'production');
  const events = { loaded: [] as string[], evicted: [] as string[], coldStarts: [] as string[], servingAtOnDemandLoad: [] as number[] };
  const manager: ModelManager = new ModelManager({
    registry,
    providers: new ProviderChain(['cpu']),
    load: { batching: { enabled: false } },
    log: quiet,
    missRefreshMs: 0,
    now: opts.now,
    budget: { maxVersions: 0, memoryBytes: 0, loadWaitMs: 10_000, ...budget },
    events: {
      loaded: (name, _v, trigger) => {
        events.loaded.push(`${name}:${trigger}`);
        // Called once the new session is warm, before it is installed: what else is loaded then.
        if (trigger === 'on_demand') events.servingAtOnDemandLoad.push(manager.loadedVersions().length);
      },
      evicted: (name, _v, reason) => events.evicted.push(`${name}:${reason}`),
      coldStart: (name) => events.coldStarts.push(name),
    },
  });
  return { registry, params, manager, events };
}

const loadedNames = (manager: ModelManager) =>
  manager
    .loadedVersions()
    .map((v) => v.name)
    .sort();

/** Runs the iris rows through the model's default version and checks the answer against the reference. */
async function answersCorrectly(manager: ModelManager, name: string, params: Map<string, MlpParams>): Promise<void> {
  const lease = await manager.acquire(name);
  try {
    const result = await lease.version.runRows(Float32Array.from(IRIS_ROWS.flat()), IRIS_ROWS.length);
    const got = [...(result.outputs.probabilities.data as Float32Array)];
    assert.ok(
      maxAbsDiff(got, mlpReference(params.get(name)!, 'classification', IRIS_ROWS).flat()) <= 1e-5,
      `${name} answers its own numbers`,
    );
  } finally {
    lease.release();
  }
}

const entry = (key: string, lastUsed: number, extra: { inflight?: number; pinned?: boolean; memoryBytes?: number } = {}) => ({
  key,
  lastUsed,
  inflight: extra.inflight ?? 0,
  pinned: extra.pinned ?? false,
  memoryBytes: extra.memoryBytes ?? 1,
});

describe('memory budget: choosing what to unload', () => {
  const budget = (b: Partial<BudgetOptions>): BudgetOptions => ({ maxVersions: 0, memoryBytes: 0, loadWaitMs: 1000, ...b });

  it('unloads the least recently used idle versions until the count fits, counting the incoming one', () => {
    const entries = [entry('a', 3), entry('b', 1), entry('c', 2)];
    assert.deepEqual(
      chooseEvictions(budget({ maxVersions: 2 }), entries, { memoryBytes: 1 }).map((v) => v.key),
      ['b', 'c'],
    );
    assert.deepEqual(chooseEvictions(budget({ maxVersions: 3 }), entries), []);
    assert.deepEqual(chooseEvictions(budget({}), entries, { memoryBytes: 1 }), [], 'no budget: nothing unloaded');
  });

  it('never picks a version with requests in flight, and picks pinned versions last', () => {
    const entries = [entry('busy', 1, { inflight: 1 }), entry('pinned', 2, { pinned: true }), entry('idle', 3)];
    assert.deepEqual(
      chooseEvictions(budget({ maxVersions: 2 }), entries).map((v) => v.key),
      ['idle'],
    );
    assert.deepEqual(
      chooseEvictions(budget({ maxVersions: 1 }), entries).map((v) => v.key),
      ['idle', 'pinned'],
      'the busy one stays even though the budget is still broken',
    );
  });

  it('the memory limit counts estimates; one version larger than the budget is still served alone', () => {
    const entries = [entry('a', 1, { memoryBytes: 60 }), entry('b', 2, { memoryBytes: 30 })];
    const b = budget({ memoryBytes: 100 });
    assert.equal(overBudget(b, entries), null);
    assert.deepEqual(chooseEvictions(b, entries, { memoryBytes: 20 }), [{ key: 'a', reason: 'memory' }]);
    assert.equal(overBudget(b, [], { memoryBytes: 500 }), null);
  });
});

describe('memory budget: the model manager', () => {
  it('loads at start only what fits; the rest is UNAVAILABLE in the index, yet the server is ready', async () => {
    const { manager } = await setup({ maxVersions: 2 });
    try {
      await manager.refreshAll();
      assert.deepEqual(loadedNames(manager), ['m0', 'm1']);
      const index = await manager.index();
      assert.deepEqual(
        index.map((e) => `${e.name}@${e.version}:${e.state}`),
        ['m0@1:READY', 'm1@1:READY', 'm2@1:UNAVAILABLE'],
      );
      assert.equal(index[2].reason, UNLOADED_BY_BUDGET);
      assert.deepEqual(manager.readiness(true), { ready: true, reasons: [] });
      assert.deepEqual(manager.readiness(false), { ready: true, reasons: [] }, 'lenient readiness too');
      assert.deepEqual(manager.modelReadiness('m2'), { ready: true, reasons: [] });
      assert.equal(manager.loadsOnDemand('m2', undefined), 1);
    } finally {
      await manager.close();
    }
  });

  it('a request for an unloaded model loads it, unloads the least recently used one, and answers correctly', async () => {
    const { manager, params, events } = await setup({ maxVersions: 2 });
    try {
      await manager.refreshAll();
      await answersCorrectly(manager, 'm1', params); // m0 is now the least recently used
      await answersCorrectly(manager, 'm2', params);
      assert.deepEqual(loadedNames(manager), ['m1', 'm2']);
      assert.deepEqual(events.evicted, ['m0:max_versions']);
      assert.deepEqual(events.coldStarts, ['m2']);
      assert.deepEqual(manager.status('m0').evicted, [1]);
      const index = await manager.index();
      assert.deepEqual(
        index.map((e) => `${e.name}:${e.state}`),
        ['m0:UNAVAILABLE', 'm1:READY', 'm2:READY'],
      );
      await answersCorrectly(manager, 'm0', params);
      assert.deepEqual(loadedNames(manager), ['m0', 'm2']);
      assert.deepEqual(events.loaded, ['m0:registry', 'm1:registry', 'm2:on_demand', 'm0:on_demand']);
      assert.deepEqual(events.servingAtOnDemandLoad, [1, 1], 'room was made before each new session was created');
    } finally {
      await manager.close();
    }
  });

  it('never unloads a version with a request in flight; unloads it once that request is done', async () => {
    const { manager, params, events } = await setup({ maxVersions: 2 });
    try {
      await manager.refreshAll();
      const held0 = await manager.acquire('m0');
      const held1 = await manager.acquire('m1');
      const held2 = await manager.acquire('m2');
      assert.deepEqual(loadedNames(manager), ['m0', 'm1', 'm2'], 'over budget while all three are busy');
      assert.equal(manager.budgetStatus().over, true);
      assert.equal(held0.version.isRetired, false);
      held0.release();
      assert.deepEqual(loadedNames(manager), ['m1', 'm2'], 'the drained one goes at its release');
      assert.equal(held0.version.isRetired, true);
      assert.deepEqual(events.evicted, ['m0:max_versions']);
      assert.equal(manager.budgetStatus().over, false);
      held1.release();
      held2.release();
      assert.deepEqual(loadedNames(manager), ['m1', 'm2']);
      await answersCorrectly(manager, 'm2', params);
    } finally {
      await manager.close();
    }
  });

  it('concurrent requests for one unloaded version share one load', async () => {
    const { registry, manager } = await setup({ maxVersions: 2 });
    try {
      await manager.refreshAll();
      const reads = registry.calls.get('readArtifact') ?? 0;
      const leases = await Promise.all(Array.from({ length: 6 }, () => manager.acquire('m2')));
      assert.equal(registry.calls.get('readArtifact'), reads + 1, 'one artifact read for six requests');
      assert.equal(new Set(leases.map((l) => l.version)).size, 1);
      for (const l of leases) l.release();
    } finally {
      await manager.close();
    }
  });

  it('a load that does not finish within the wait answers 503 with Retry-After (UNAVAILABLE on gRPC); the load goes on', async () => {
    const { registry, manager } = await setup({ maxVersions: 2, loadWaitMs: 1 });
    try {
      await manager.refreshAll();
      const reads = registry.calls.get('readArtifact') ?? 0;
      let open!: () => void;
      registry.gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const err = await manager.acquire('m2').then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(err instanceof LoadWaitError, `got ${String(err)}`);
      assert.equal(HTTP_STATUS[(err as BnserveError).code], 503);
      assert.equal(err.retryAfterSeconds, 1);
      assert.equal(grpcStatusFor(err).code, grpcStatus.UNAVAILABLE);
      assert.match(err.message, /did not load within 1 ms/);
      registry.gate = null;
      open();
      await manager.refreshAll(); // runs after the load, which holds m2's lock
      const lease = await manager.acquire('m2');
      lease.release();
      assert.equal(lease.version.name, 'm2');
      assert.equal(registry.calls.get('readArtifact'), reads + 1, 'the abandoned load finished; no second load');
    } finally {
      await manager.close();
    }
  });

  it('a version that fails to load answers 503 as load failures do, and shows as failed in the index', async () => {
    const { registry, manager } = await setup({ maxVersions: 2 });
    try {
      await manager.refreshAll();
      registry.corruptArtifact('m2', 1);
      await assert.rejects(
        manager.acquire('m2'),
        (e) => e instanceof BnserveError && HTTP_STATUS[e.code] === 503 && /version 1 failed to load/.test(e.message),
      );
      const m2 = (await manager.index()).filter((e) => e.name === 'm2');
      assert.deepEqual(
        m2.map((e) => `${e.state}:${e.reason}`),
        ['UNAVAILABLE:sha256 mismatch'],
      );
      assert.deepEqual(loadedNames(manager), ['m0', 'm1'], 'a corrupt artifact unloads nothing');
    } finally {
      await manager.close();
    }
  });

  it('a version whose load failed for a passing reason loads on demand once its retry time has come', async () => {
    let clock = 1_000_000;
    const { registry, manager, params } = await setup({ maxVersions: 2 }, { now: () => clock });
    try {
      await manager.refreshAll(); // m0 and m1 loaded and idle: nothing else makes room for m2
      registry.unavailableOnce = 'm2';
      await assert.rejects(manager.acquire('m2'), (e) => e instanceof BnserveError && HTTP_STATUS[e.code] === 503);
      assert.equal(manager.readiness(false).ready, false, 'lenient readiness: m2 waits for its retry time');
      clock += 60 * 60 * 1000; // past any retry time
      assert.equal(manager.readiness(false).ready, true, 'lenient readiness: m2 loads on its next request');
      await answersCorrectly(manager, 'm2', params);
      assert.ok(loadedNames(manager).includes('m2'));
    } finally {
      await manager.close();
    }
  });

  it('polls do not load back what the budget unloaded', async () => {
    const { registry, manager, params } = await setup({ maxVersions: 2 });
    try {
      await manager.refreshAll();
      await answersCorrectly(manager, 'm1', params);
      await answersCorrectly(manager, 'm2', params);
      const reads = registry.calls.get('readArtifact');
      await manager.refreshAll();
      assert.equal(registry.calls.get('readArtifact'), reads);
      assert.deepEqual(loadedNames(manager), ['m1', 'm2']);
    } finally {
      await manager.close();
    }
  });

  it('the default alias pins its version: unpinned versions go first even when more recently used', async () => {
    const { manager, params, events } = await setup({ maxVersions: 2 }, { alias: 'm0' });
    try {
      await manager.refreshAll();
      await answersCorrectly(manager, 'm1', params); // m0 (pinned) is the least recently used
      await answersCorrectly(manager, 'm2', params);
      assert.deepEqual(loadedNames(manager), ['m0', 'm2']);
      assert.deepEqual(events.evicted, ['m1:max_versions']);
    } finally {
      await manager.close();
    }
  });

  it('BNSERVE_MODEL_MEMORY_MB counts the estimates: a budget smaller than two versions keeps one', async () => {
    const { manager, params, events } = await setup({ memoryBytes: 1 });
    try {
      await manager.refreshAll();
      assert.deepEqual(loadedNames(manager), ['m0']);
      const estimate = manager.loadedVersions()[0].memory;
      assert.ok(estimate.estimateBytes >= estimate.artifactBytes && estimate.artifactBytes > 0, JSON.stringify(estimate));
      await answersCorrectly(manager, 'm2', params);
      assert.deepEqual(loadedNames(manager), ['m2']);
      assert.deepEqual(events.evicted, ['m0:memory']);
    } finally {
      await manager.close();
    }
  });

  it('a version being promoted is not unloaded while the registry write is under way', async () => {
    const { registry, manager } = await setup({ maxVersions: 2 });
    try {
      await manager.refreshAll(); // m0 then m1: m0 is the least recently used
      let open!: () => void;
      registry.promoteGate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const promoting = manager.promote('m0', 1, 'production');
      await new Promise((r) => setImmediate(r));
      const lease = await manager.acquire('m2'); // makes room while the promote waits for the registry
      lease.release();
      open();
      await promoting;
      assert.deepEqual(loadedNames(manager), ['m0', 'm2'], 'm1 went instead of the version being promoted');
      assert.equal(manager.status('m0').aliases.production, 1);
    } finally {
      await manager.close();
    }
  });

  it('a registry sync that started before the budget unloaded a version does not serve that version again', async () => {
    const { registry, manager } = await setup({ maxVersions: 2 });
    try {
      await registry.promote('m0', 1, 'staging');
      await manager.refreshAll();
      await registry.registerVersion(versionInput('m0', randomMlp(900), 'classification')); // the default moves to v2
      let open!: () => void;
      registry.gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      registry.gatedModel = 'm0';
      const syncing = manager.refreshAll(); // holds m0's table (v1 for staging) while v2's read waits
      await new Promise((r) => setImmediate(r));
      const lease = await manager.acquire('m2'); // unloads m0 v1, the least recently used
      lease.release();
      // With the others unloaded by an admin, nothing after the sync is over budget to clean up.
      await manager.unload('m1');
      await manager.unload('m2');
      open();
      await syncing;
      const staging = await manager.acquire('m0', 'staging');
      staging.release();
      assert.equal(staging.version.version, 1);
      assert.equal(staging.version.isRetired, false, 'staging is served by a fresh load of v1, not the unloaded session');
    } finally {
      await manager.close();
    }
  });

  it('loads nothing once closed (a session loaded then would never be released)', async () => {
    const { manager } = await setup({ maxVersions: 2 });
    await manager.refreshAll();
    await manager.close();
    await assert.rejects(manager.acquire('m2'), /shutting down/);
    assert.deepEqual(loadedNames(manager), []);
  });

  it('without a budget every version stays loaded', async () => {
    const { manager } = await setup({});
    try {
      await manager.refreshAll();
      assert.deepEqual(loadedNames(manager), MODELS);
      assert.equal(manager.loadsOnDemand('m2', undefined), null);
    } finally {
      await manager.close();
    }
  });
});

describe('memory budget: settings', () => {
  it('reads the three settings, and BuildAppOptions overrides them', () => {
    const env = { BNSERVE_MAX_LOADED_VERSIONS: '2', BNSERVE_MODEL_MEMORY_MB: '64', BNSERVE_MODEL_LOAD_WAIT_MS: '2500' };
    assert.deepEqual(resolveServeConfig({ env }).modelBudget, { maxVersions: 2, memoryBytes: 64 * 1024 * 1024, loadWaitMs: 2500 });
    assert.deepEqual(resolveServeConfig({ env: {} }).modelBudget, { maxVersions: 0, memoryBytes: 0, loadWaitMs: 10_000 });
    assert.deepEqual(resolveServeConfig({ env, modelBudget: { maxVersions: 3 } }).modelBudget.maxVersions, 3);
  });
});
