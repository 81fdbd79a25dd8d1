// How a server applies the batching overrides stored in the registry (`bnserve tune --apply`):
// the precedence of the three sources (admin API > registry > BNSERVE_MODEL_BATCHING > defaults),
// the sync a registry poll runs, and the poller calling it before it re-reads the models.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { BatchingOverride } from '../../src/lib/batching.ts';
import type { ModelSettingsRecord, Registry } from '../../src/registry/types.ts';
import { BatchingSettings, storedBatchingSync } from '../../src/serve/dataplane/batching-settings.ts';
import { RegistryPoller } from '../../src/serve/dataplane/registry-poller.ts';
import { DEFAULT_BATCHING } from '../../src/serve/config.ts';

const stored = (entries: Record<string, BatchingOverride>) => new Map(Object.entries(entries));

describe('BatchingSettings: where a model’s override comes from', () => {
  test('the registry’s override goes over BNSERVE_MODEL_BATCHING knob by knob', () => {
    const s = new BatchingSettings(DEFAULT_BATCHING, { iris: { maxQueueSize: 7, maxBatchSize: 4 } });
    assert.equal(s.get('iris').maxBatchSize, 4);
    assert.deepEqual(s.applyStored(stored({ iris: { maxBatchSize: 32, maxQueueDelayMicroseconds: 500 } })), ['iris']);
    assert.deepEqual(s.override('iris'), { maxQueueSize: 7, maxBatchSize: 32, maxQueueDelayMicroseconds: 500 });
    assert.equal(s.get('iris').maxBatchSize, 32, 'the resolved settings follow (no stale cache)');
    assert.equal(s.get('iris').maxQueueSize, 7, 'the environment’s other knobs stay');
    assert.equal(s.get('wine').maxBatchSize, DEFAULT_BATCHING.maxBatchSize);
  });

  test('an override the admin API set wins over the stored one, and stays when the stored one changes', () => {
    const s = new BatchingSettings(DEFAULT_BATCHING, {});
    s.applyStored(stored({ iris: { maxBatchSize: 32 } }));
    s.setOverride('iris', { maxBatchSize: 2 });
    assert.equal(s.get('iris').maxBatchSize, 2);
    s.applyStored(stored({ iris: { maxBatchSize: 64 } }));
    assert.equal(s.get('iris').maxBatchSize, 2);
    // As before: an empty admin override returns the model to the server-wide settings (until restart).
    s.setOverride('iris', {});
    assert.deepEqual(s.override('iris'), {});
    assert.equal(s.get('iris').maxBatchSize, DEFAULT_BATCHING.maxBatchSize);
  });

  test('a model no longer stored falls back to BNSERVE_MODEL_BATCHING; unchanged rows report no change', () => {
    const s = new BatchingSettings(DEFAULT_BATCHING, { iris: { maxBatchSize: 4 } });
    s.applyStored(stored({ iris: { maxBatchSize: 32, preferredBatchSizes: [16] }, wine: { instanceCount: 2 } }));
    assert.deepEqual(s.applyStored(stored({ wine: { instanceCount: 2 }, iris: { preferredBatchSizes: [16], maxBatchSize: 32 } })), []);
    assert.equal(s.get('iris').maxBatchSize, 32);
    assert.deepEqual(s.applyStored(stored({ wine: { instanceCount: 2 } })), ['iris']);
    assert.equal(s.get('iris').maxBatchSize, 4);
  });
});

interface LogLine {
  level: 'info' | 'warn' | 'error';
  obj: object;
  msg: string;
}

function recordingLog(lines: LogLine[]) {
  return {
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    error: (obj: object, msg: string) => lines.push({ level: 'error', obj, msg }),
  };
}

/** A registry that answers only what the sync reads. */
function settingsRegistry(rows: () => ModelSettingsRecord[] | Error): Registry {
  return {
    listModelSettings: async () => {
      const r = rows();
      if (r instanceof Error) throw r;
      return r;
    },
  } as Partial<Registry> as Registry;
}

const row = (name: string, batching: BatchingOverride, problem: string | null = null): ModelSettingsRecord => ({
  name,
  batching,
  problem,
  updatedAt: new Date(0),
});

describe('storedBatchingSync', () => {
  test('applies the stored overrides and logs each model whose override changed', async () => {
    let rows: ModelSettingsRecord[] | Error = [row('iris', { maxBatchSize: 32 })];
    const lines: LogLine[] = [];
    const settings = new BatchingSettings(DEFAULT_BATCHING, {});
    const sync = storedBatchingSync(
      settingsRegistry(() => rows),
      settings,
      recordingLog(lines),
    );
    await sync();
    assert.equal(settings.get('iris').maxBatchSize, 32);
    assert.deepEqual(
      lines.map((l) => [l.level, l.msg, (l.obj as { model: string }).model]),
      [['info', 'stored batching settings applied', 'iris']],
    );
    await sync();
    assert.equal(lines.length, 1, 'nothing changed, nothing logged');

    rows = new Error('database is locked');
    await sync();
    await sync();
    assert.equal(settings.get('iris').maxBatchSize, 32, 'a failed read keeps what was applied');
    assert.deepEqual(
      lines.slice(1).map((l) => [l.level, l.msg]),
      [['warn', 'could not read the stored batching settings; keeping those applied']],
      'logged once per failure streak',
    );

    rows = [];
    await sync();
    assert.equal(settings.get('iris').maxBatchSize, DEFAULT_BATCHING.maxBatchSize, 'a removed override is removed');
  });

  test('skips a row that is not a valid override, logging it once, and applies the others', async () => {
    const lines: LogLine[] = [];
    const settings = new BatchingSettings(DEFAULT_BATCHING, {});
    const sync = storedBatchingSync(
      settingsRegistry(() => [
        row('iris', {}, 'the stored batching override is not valid (maxBatchSize: too small)'),
        row('wine', { maxBatchSize: 8 }),
      ]),
      settings,
      recordingLog(lines),
    );
    await sync();
    await sync();
    assert.equal(settings.get('wine').maxBatchSize, 8);
    assert.equal(settings.get('iris').maxBatchSize, DEFAULT_BATCHING.maxBatchSize);
    assert.deepEqual(
      lines.filter((l) => l.level === 'warn').map((l) => [l.msg, (l.obj as { model: string }).model]),
      [['ignoring the stored batching settings of a model', 'iris']],
    );
  });

  test('a registry that stores no settings (a model folder) is left alone', async () => {
    const settings = new BatchingSettings(DEFAULT_BATCHING, { iris: { maxBatchSize: 4 } });
    const lines: LogLine[] = [];
    await storedBatchingSync({} as Registry, settings, recordingLog(lines))();
    assert.equal(settings.get('iris').maxBatchSize, 4);
    assert.deepEqual(lines, [], 'not a failure: nothing to warn about');
  });
});

describe('RegistryPoller', () => {
  function poller(order: string[], registryUp = true) {
    const registry = {
      checkDatabase: async () => {
        if (!registryUp) throw new Error('gone');
      },
      failStaleRuns: async () => 0,
    } as Partial<Registry> as Registry;
    return new RegistryPoller({
      registry,
      log: recordingLog([]),
      staleRunMs: 30_000,
      refresh: async () => {
        order.push('refresh');
      },
      syncSettings: async () => {
        order.push('sync');
      },
    });
  }

  test('each poll applies the stored settings before it re-reads the models (so versions it loads get them)', async () => {
    const order: string[] = [];
    const p = poller(order);
    await p.poll();
    await p.poll();
    assert.deepEqual(order, ['sync', 'refresh', 'sync', 'refresh']);
    await p.close();
  });

  test('a registry that fails its check is not read for settings either', async () => {
    const order: string[] = [];
    const p = poller(order, false);
    await p.poll();
    assert.deepEqual(order, []);
    await p.close();
  });
});
