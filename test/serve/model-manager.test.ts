import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { BnserveError } from '../../src/lib/errors.ts';
import type { ModelUnavailableError } from '../../src/serve/dataplane/errors.ts';
import { HTTP_STATUS } from '../../src/serve/http/plugins/errors.ts';
import { RegistryError } from '../../src/registry/types.ts';
import { ModelManager, type ManagerLog, type ModelManagerOptions } from '../../src/serve/dataplane/model-manager.ts';
import { ProviderChain } from '../../src/serve/dataplane/providers.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, maxAbsDiff, mlpReference, randomMlp, versionInput } from './fixtures.ts';

function recordingLog() {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const log: ManagerLog = {
    info: (obj, msg) => lines.push({ level: 'info', msg, obj }),
    warn: (obj, msg) => lines.push({ level: 'warn', msg, obj }),
    error: (obj, msg) => lines.push({ level: 'error', msg, obj }),
  };
  return { lines, log };
}

async function setup(versions = 2, staleRunMs?: number, extra: Partial<ModelManagerOptions> = {}) {
  const registry = new FakeRegistry();
  const params = Array.from({ length: versions }, (_, i) => randomMlp(100 + i));
  for (const p of params) await registry.registerVersion(versionInput('iris', p, 'classification'));
  const { lines, log } = recordingLog();
  const failures: string[] = [];
  const manager = new ModelManager({
    registry,
    providers: new ProviderChain(['cpu']),
    load: { batching: { enabled: true, maxRows: 64 } },
    log,
    onLoadFailure: (name, version) => failures.push(`${name}@${version}`),
    missRefreshMs: 0,
    staleRunMs,
    ...extra,
  });
  return { registry, params, manager, lines, failures };
}

const statusOf = (err: unknown) => (err instanceof BnserveError ? HTTP_STATUS[err.code] : -1);

async function servedVersion(manager: ModelManager, ref?: number | string): Promise<number> {
  const lease = await manager.acquire('iris', ref);
  lease.release();
  return lease.version.version;
}

async function probabilities(manager: ModelManager, ref: number | string | undefined, rows: number[][]) {
  const lease = await manager.acquire('iris', ref);
  try {
    const result = await lease.version.runRows(Float32Array.from(rows.flat()), rows.length);
    return { version: lease.version.version, data: [...(result.outputs.probabilities.data as Float32Array)] };
  } finally {
    lease.release();
  }
}

describe('ModelManager', () => {
  it('serves the latest version by default, and the production alias once set', async () => {
    const { registry, params, manager } = await setup();
    try {
      await manager.refreshAll();
      assert.equal(manager.ready, true);
      const latest = await probabilities(manager, undefined, IRIS_ROWS);
      assert.equal(latest.version, 2);
      assert.ok(maxAbsDiff(latest.data, mlpReference(params[1], 'classification', IRIS_ROWS).flat()) <= 1e-5);

      await registry.promote('iris', 1, 'production');
      await manager.refreshAll();
      assert.equal((await probabilities(manager, undefined, IRIS_ROWS)).version, 1);
      assert.equal((await probabilities(manager, 'production', IRIS_ROWS)).version, 1);
      assert.equal((await probabilities(manager, 2, IRIS_ROWS)).version, 2, 'a version by number loads on demand');
    } finally {
      await manager.close();
    }
  });

  it('serves the configured default alias instead of production, and the latest while that alias is unset', async () => {
    const { registry, manager } = await setup(3, undefined, { defaultAlias: 'candidate' });
    try {
      await registry.promote('iris', 1, 'production');
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 3, 'no candidate alias yet: the latest version');
      await registry.promote('iris', 2, 'candidate');
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 2);
      assert.equal(await servedVersion(manager, 'production'), 1, 'other aliases still answer by name');
    } finally {
      await manager.close();
    }
  });

  it('finds models and versions registered after its last registry read', async () => {
    const { registry, manager } = await setup(1);
    try {
      await manager.refreshAll();
      await registry.registerVersion(versionInput('iris', randomMlp(300), 'classification'));
      await registry.registerVersion(versionInput('rose', randomMlp(301), 'classification'));
      assert.equal(await servedVersion(manager, 2), 2);
      const rose = await manager.acquire('rose');
      rose.release();
      assert.equal(rose.version.name, 'rose');
    } finally {
      await manager.close();
    }
  });

  it('answers 404 for unknown models, versions and aliases', async () => {
    const { manager } = await setup(1);
    try {
      await manager.refreshAll();
      await assert.rejects(manager.acquire('nope'), (e) => statusOf(e) === 404 && /model "nope" not found/.test(String(e)));
      await assert.rejects(manager.acquire('iris', 9), (e) => statusOf(e) === 404 && /no version 9/.test(String(e)));
      await assert.rejects(manager.acquire('iris', 'staging'), (e) => statusOf(e) === 404 && /no alias "staging"/.test(String(e)));
    } finally {
      await manager.close();
    }
  });

  it('keeps the previous version serving when the new target fails its sha256 check', async () => {
    const { registry, manager, lines, failures } = await setup();
    try {
      await registry.promote('iris', 1, 'production');
      await manager.refreshAll();
      await registry.promote('iris', 2, 'production'); // as `bnserve models promote` would, behind the server's back
      registry.corruptArtifact('iris', 2);
      await manager.refreshAll();
      assert.equal((await probabilities(manager, undefined, IRIS_ROWS)).version, 1);
      assert.equal((await probabilities(manager, 'production', IRIS_ROWS)).version, 1);
      const status = manager.status('iris');
      assert.deepEqual(
        status.failures.map((f) => f.version),
        [2],
      );
      assert.match(status.failures[0].message, /sha256/);
      assert.deepEqual(failures, ['iris@2']);
      assert.ok(lines.some((l) => l.level === 'error' && /failed to load/.test(l.msg)));
      // A failed version is not retried on every poll (one log line, one failure count).
      const reads = registry.calls.get('readArtifact');
      await manager.refreshAll();
      assert.deepEqual(failures, ['iris@2']);
      assert.equal(registry.calls.get('readArtifact'), reads, 'the corrupt artifact is not read again');
      assert.equal(status.failures[0].permanent, true);
    } finally {
      await manager.close();
    }
  });

  it('refuses an artifact that disagrees with its registry row (label count)', async () => {
    const { registry, manager } = await setup(1);
    try {
      await manager.refreshAll();
      await registry.registerVersion({ ...versionInput('iris', randomMlp(400), 'classification'), classLabels: ['a', 'b'] });
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 1, 'v1 keeps serving');
      assert.match(manager.status('iris').failures[0].message, /output probabilities has 3 classes but the registry lists 2 labels/);
      const reads = registry.calls.get('readArtifact');
      await manager.refreshAll();
      assert.equal(registry.calls.get('readArtifact'), reads, 'a version whose session cannot serve is not retried by polls');
    } finally {
      await manager.close();
    }
  });

  it('reports 503 when the only version fails to load', async () => {
    const { registry, manager } = await setup(1);
    try {
      registry.corruptArtifact('iris', 1);
      await manager.refreshAll();
      await assert.rejects(manager.acquire('iris'), (e) => statusOf(e) === 503 && /version 1 failed to load/.test(String(e)));
    } finally {
      await manager.close();
    }
  });

  it('promote loads first, then moves the alias; in-flight requests finish on the old session', async () => {
    const { registry, manager } = await setup();
    try {
      await registry.promote('iris', 1, 'production');
      await manager.refreshAll();
      const inflight = await manager.acquire('iris');
      assert.equal(inflight.version.version, 1);

      const { previous, version } = await manager.promote('iris', 2, 'production');
      assert.equal(previous, 1);
      assert.equal(version.version, 2);
      assert.equal((await registry.getVersion('iris', 'production'))?.version, 2);
      assert.equal(await servedVersion(manager), 2, 'new requests go to the new version');

      assert.equal(inflight.version.isReleased, false, 'the old session stays while a request uses it');
      const result = await inflight.version.runRows(Float32Array.from(IRIS_ROWS[0]), 1);
      assert.equal(result.outputs.probabilities.shape[0], 1);
      inflight.release();
      await new Promise((r) => setImmediate(r));
      assert.equal(inflight.version.isReleased, true, 'released once its last request ended');
    } finally {
      await manager.close();
    }
  });

  it('a registry poll that read the registry before a promote does not move the alias back', async () => {
    const { registry, manager } = await setup();
    try {
      await registry.promote('iris', 1, 'production');
      await manager.refreshAll();
      const read = registry.listModels.bind(registry);
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let readDone!: () => void;
      const summaryTaken = new Promise<void>((resolve) => (readDone = resolve));
      registry.listModels = async () => {
        const summaries = await read(); // says production → 1
        readDone();
        await gate;
        return summaries;
      };
      const poll = manager.refreshAll();
      await summaryTaken;
      await manager.promote('iris', 2, 'production');
      release();
      await poll;
      registry.listModels = read;
      assert.equal(await servedVersion(manager), 2, 'the stale summary was not applied');
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 2, 'the next read agrees');
    } finally {
      await manager.close();
    }
  });

  it('BN-guard-flagged versions: not the default, promoted only with force (409 otherwise)', async () => {
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(7), 'classification'));
    await registry.registerVersion({ ...versionInput('iris', randomMlp(8), 'classification'), bnGuardWarning: 'only 7 BN updates' });
    await registry.registerVersion({ ...versionInput('solo', randomMlp(9), 'classification'), bnGuardWarning: 'only 7 BN updates' });
    const manager = new ModelManager({
      registry,
      providers: new ProviderChain(['cpu']),
      load: { batching: { enabled: true, maxRows: 64 } },
      log: recordingLog().log,
      missRefreshMs: 0,
    });
    try {
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 1, 'the flagged latest version is not the default');
      assert.equal(await servedVersion(manager, 2), 2, 'asked for by number, it is served');
      await assert.rejects(manager.acquire('solo'), (e) => statusOf(e) === 503 && /flagged by the BN guard/.test(String(e)));
      await assert.rejects(manager.promote('iris', 2, 'production'), (e) => statusOf(e) === 409 && /BN guard/.test(String(e)));
      assert.equal(await registry.getVersion('iris', 'production'), null);
      await manager.promote('iris', 2, 'production', { force: true });
      assert.equal(await servedVersion(manager), 2);
    } finally {
      await manager.close();
    }
  });

  it('refuses to promote a version that does not load, leaving registry and server unchanged', async () => {
    const { registry, manager } = await setup();
    try {
      await registry.promote('iris', 1, 'production');
      await manager.refreshAll();
      registry.corruptArtifact('iris', 2);
      await assert.rejects(
        manager.promote('iris', 2, 'production'),
        (e) => statusOf(e) === 422 && /alias "production" was not moved/.test(String(e)),
      );
      assert.equal((await registry.getVersion('iris', 'production'))?.version, 1);
      assert.equal(await servedVersion(manager), 1);
      await assert.rejects(manager.promote('iris', 7, 'production'), (e) => statusOf(e) === 404);
    } finally {
      await manager.close();
    }
  });

  it('unload stops serving until load', async () => {
    const { manager } = await setup(1);
    try {
      await manager.refreshAll();
      const before = manager.peek('iris');
      await manager.unload('iris');
      assert.equal(before.isReleased, true);
      await assert.rejects(manager.acquire('iris'), (e) => statusOf(e) === 404 && /unloaded/.test(String(e)));
      await manager.refreshAll();
      await assert.rejects(manager.acquire('iris'), (e) => statusOf(e) === 404, 'polling does not bring it back');
      const status = await manager.load('iris');
      assert.deepEqual(
        status.loaded.map((v) => v.version),
        [1],
      );
      assert.equal(await servedVersion(manager), 1);
    } finally {
      await manager.close();
    }
  });

  it('keeps serving what is loaded while the registry is unreachable', async () => {
    const { registry, manager, lines } = await setup(1);
    try {
      await manager.refreshAll();
      registry.failWith = new Error('database is down');
      await assert.rejects(manager.refreshAll(), /database is down/);
      assert.ok(lines.some((l) => l.level === 'warn' && /could not read the model registry/.test(l.msg)));
      assert.equal((await probabilities(manager, undefined, IRIS_ROWS)).version, 1);
    } finally {
      registry.failWith = null;
      await manager.close();
    }
  });

  it('is not ready before the registry has been read', async () => {
    const { registry, manager } = await setup(1);
    try {
      registry.failWith = new Error('not yet');
      await manager.refreshAll().catch(() => {});
      assert.equal(manager.ready, false);
      registry.failWith = null;
      await manager.refreshAll();
      assert.equal(manager.ready, true);
    } finally {
      await manager.close();
    }
  });

  it('does not remember an invalid ONNX artifact as retryable', async () => {
    const { registry, manager, failures } = await setup(1);
    try {
      await manager.refreshAll();
      await registry.registerVersion({
        ...versionInput('iris', randomMlp(500), 'classification'),
        artifact: new TextEncoder().encode('not an onnx model'),
      });
      await manager.refreshAll();
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 1);
      assert.deepEqual(failures, ['iris@2'], 'one attempt: the session cannot be created from these bytes');
      assert.equal(manager.status('iris').failures[0].permanent, true);
    } finally {
      await manager.close();
    }
  });

  it('retries a version on the next poll after a transient registry or file-read error', async () => {
    const { registry, manager, failures, lines } = await setup(1, undefined, { retryBaseMs: 0 });
    try {
      await manager.refreshAll();
      await registry.registerVersion(versionInput('iris', randomMlp(600), 'classification'));
      registry.failOnce('readArtifact', Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO' }));
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 1, 'v1 keeps serving while v2 cannot be read');
      assert.deepEqual(
        manager.status('iris').failures.map((f) => [f.version, f.permanent]),
        [[2, false]],
      );
      assert.ok(lines.some((l) => l.level === 'error' && /a later poll retries/.test(l.msg)));

      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 2, 'the next poll loads it');
      assert.deepEqual(manager.status('iris').failures, []);

      await registry.registerVersion(versionInput('iris', randomMlp(601), 'classification'));
      registry.failOnce('getVersion', new Error('connection reset by the database'));
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 2);
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 3);
      assert.deepEqual(failures, ['iris@2', 'iris@3']);
    } finally {
      await manager.close();
    }
  });

  it('each poll marks training runs without a heartbeat as failed, and re-reads the registry', async () => {
    const { registry, manager, lines } = await setup(1, 45_000);
    try {
      await manager.refreshAll();
      const dead = await registry.startRun({ name: 'iris', config: {}, backend: 'cpu', seed: 1 });
      const alive = await registry.startRun({ name: 'iris', config: {}, backend: 'cpu', seed: 2 });
      registry.backdateHeartbeat(dead.id, 60_000);
      registry.backdateHeartbeat(alive.id, 10_000);
      await registry.promote('iris', 1, 'staging');

      await manager.poll();
      assert.deepEqual(registry.staleRunChecks, [45_000]);
      assert.equal((await registry.getRun(dead.id))?.status, 'failed');
      assert.equal((await registry.getRun(alive.id))?.status, 'running');
      assert.ok(
        lines.some((l) => l.level === 'info' && /without a recent heartbeat/.test(l.msg) && (l.obj as { runs: number }).runs === 1),
      );
      assert.deepEqual(manager.status('iris').registryAliases, { staging: 1 }, 'the same poll re-read the aliases');
    } finally {
      await manager.close();
    }
  });

  it('keeps polling when marking stale runs fails, and logs it', async () => {
    const { registry, manager, lines } = await setup(1);
    try {
      await manager.refreshAll();
      registry.failOnce('failStaleRuns', new Error('database is locked'));
      await registry.promote('iris', 1, 'staging');
      await manager.poll(); // must resolve, not reject
      assert.ok(
        lines.some(
          (l) =>
            l.level === 'warn' &&
            /could not mark stale training runs/.test(l.msg) &&
            String((l.obj as { err: Error }).err.message) === 'database is locked',
        ),
      );
      assert.deepEqual(manager.status('iris').registryAliases, { staging: 1 }, 'the registry was still re-read');
      assert.deepEqual(registry.staleRunChecks, [30_000], 'default threshold: 30 s, as STALE_RUN_MS');
    } finally {
      await manager.close();
    }
  });

  it('startPolling runs a poll, stale-run check included, every interval', async () => {
    const { registry, manager } = await setup(1, 20_000);
    mock.timers.enable({ apis: ['setInterval'] });
    try {
      await manager.refreshAll();
      manager.startPolling(5_000);
      assert.deepEqual(registry.staleRunChecks, []);
      mock.timers.tick(5_000);
      await manager.poll(); // joins the round the timer started (it checks the database first) rather than starting another
      assert.deepEqual(registry.staleRunChecks, [20_000], 'the timer started one round, and poll() joined it');
      mock.timers.tick(5_000);
      await manager.poll();
      assert.deepEqual(registry.staleRunChecks, [20_000, 20_000]);
    } finally {
      mock.timers.reset();
      await manager.close();
    }
  });

  it('retries a missing artifact with exponential, capped backoff; a sha256 mismatch of present bytes stays failed', async () => {
    let now = 1_000_000;
    const { registry, manager, lines } = await setup(1, undefined, { retryBaseMs: 1000, retryMaxMs: 4000, now: () => now });
    try {
      await manager.refreshAll();
      await registry.registerVersion(versionInput('iris', randomMlp(700), 'classification'));
      registry.removeArtifact('iris', 2);
      const reads = () => registry.calls.get('readArtifact') ?? 0;
      const failure = () => manager.status('iris').failures.find((f) => f.version === 2)!;

      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 1, 'v1 keeps serving');
      assert.equal(failure().reason, 'artifact missing');
      assert.equal(failure().permanent, false);
      assert.match(failure().message, /is missing from the store/, 'the detail keeps the store message');
      const delays: number[] = [];
      for (let attempt = 1; attempt <= 4; attempt++) {
        const f = failure();
        assert.equal(f.attempts, attempt);
        const delay = f.retryAt!.getTime() - now;
        delays.push(delay);
        const before = reads();
        now += delay - 1;
        await manager.refreshAll();
        assert.equal(reads(), before, `attempt ${attempt}: not retried before its backoff ends`);
        now += 1;
        await manager.refreshAll();
        assert.equal(reads(), before + 1, `attempt ${attempt}: retried once its backoff ends`);
      }
      assert.deepEqual(delays, [1000, 2000, 4000, 4000], 'doubling, capped at retryMaxMs');
      assert.ok(lines.some((l) => l.level === 'error' && (l.obj as { retryInMs?: number }).retryInMs === 4000));

      registry.restoreArtifact('iris', 2);
      now = failure().retryAt!.getTime();
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 2, 'the file came back: the next retry loads it');
      assert.deepEqual(manager.status('iris').failures, []);

      await registry.registerVersion(versionInput('iris', randomMlp(701), 'classification'));
      registry.corruptArtifact('iris', 3);
      await manager.refreshAll();
      const corrupt = manager.status('iris').failures.find((f) => f.version === 3)!;
      assert.deepEqual([corrupt.reason, corrupt.permanent, corrupt.retryAt], ['sha256 mismatch', true, null]);
      const before = reads();
      now += 10 * 3_600_000;
      await manager.refreshAll();
      assert.equal(reads(), before, 'a corrupt artifact is not read again by polls, however long after');
      assert.equal(await servedVersion(manager), 2);
    } finally {
      await manager.close();
    }
  });

  it('is not ready while a default or alias target failed to load, and says why without paths', async () => {
    const { registry, manager } = await setup(2, undefined, { retryBaseMs: 0 });
    try {
      await registry.promote('iris', 1, 'production');
      await manager.refreshAll();
      assert.deepEqual(manager.readiness(), { ready: true, reasons: [] });

      await registry.promote('iris', 2, 'production');
      registry.corruptArtifact('iris', 2);
      await manager.refreshAll();
      assert.equal(await servedVersion(manager), 1, 'the previous version keeps serving');
      const r = manager.readiness();
      assert.equal(r.ready, false);
      assert.deepEqual(r.reasons, [
        'model "iris" version 2 failed to load: sha256 mismatch (default: version 1 keeps serving, alias "production": version 1 keeps serving)',
      ]);
      assert.equal(manager.modelReadiness('iris').ready, false);

      await registry.promote('iris', 1, 'production'); // an operator moves the alias back
      await manager.refreshAll();
      assert.equal(manager.readiness().ready, true, 'a failed version nothing points to does not count');
    } finally {
      await manager.close();
    }
  });

  it('after a restart with the alias on a corrupt version: not ready, and 503 says which version failed and why', async () => {
    const { registry, manager } = await setup(2);
    try {
      await registry.promote('iris', 2, 'production');
      registry.corruptArtifact('iris', 2);
      await manager.refreshAll();
      assert.equal(manager.readiness().ready, false);
      assert.match(manager.readiness().reasons[0], /version 2 failed to load: sha256 mismatch \(default: requests get 503/);
      await assert.rejects(
        manager.acquire('iris'),
        (e) =>
          statusOf(e) === 503 &&
          (e as ModelUnavailableError).reason === 'load_failed' &&
          /has no version ready: version 2 failed to load: sha256 mismatch$/.test((e as Error).message),
      );
      assert.equal(await servedVersion(manager, 1), 1, 'other versions keep serving');
      assert.equal(manager.readiness().ready, false, 'a version loaded by number does not make the alias ready');
    } finally {
      await manager.close();
    }
  });

  it('while the registry fails its check: not ready, serves what is loaded, refuses promote, logs each transition once', async () => {
    const { registry, manager, lines } = await setup(2);
    try {
      await manager.poll();
      assert.equal(manager.ready, true);
      registry.databaseGone = 'the registry database /tmp/x.db was deleted while bnserve was running';
      await manager.poll();
      await manager.poll();
      await manager.poll();
      assert.equal(manager.registryAvailable, false);
      assert.deepEqual(manager.readiness().reasons, ['the model registry is unavailable']);
      assert.equal(await servedVersion(manager), 2, 'inference goes on');
      const down = lines.filter((l) => /the model registry is unavailable/.test(l.msg));
      assert.equal(down.length, 1, 'logged once, not every poll');
      assert.equal(down[0].level, 'error');
      await assert.rejects(manager.promote('iris', 1, 'production'), (e) => e instanceof RegistryError && e.code === 'unavailable');
      assert.equal(registry.calls.get('promote') ?? 0, 0);

      registry.databaseGone = null;
      await manager.poll();
      await manager.poll();
      assert.equal(manager.registryAvailable, true);
      assert.equal(manager.ready, true, 'ready again by itself');
      assert.equal(lines.filter((l) => /available again/.test(l.msg)).length, 1);
    } finally {
      await manager.close();
    }
  });
});
