import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BATCHING_DEFAULTS, batchingOptionsSchema } from '../../src/lib/batching.ts';
import { ConfigError } from '../../src/lib/errors.ts';
import { DEFAULT_BATCHING } from '../../src/serve/config.ts';
import { replaceSettingsTable, SETTINGS_TABLE_FILE, TABLE_START } from '../../src/settings-readme.ts';
import { readSettings, SETTINGS } from '../../src/settings.ts';

const root = path.resolve(import.meta.dirname, '../..');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'generated' ? [] : sourceFiles(full);
    return e.name.endsWith('.ts') ? [full] : [];
  });
}

describe('settings: one module owns the environment', () => {
  it('the table in docs/configuration.md is the one generated from src/settings.ts (run `npm run settings-table`)', () => {
    assert.equal(SETTINGS_TABLE_FILE, 'docs/configuration.md');
    const page = readFileSync(path.join(root, SETTINGS_TABLE_FILE), 'utf8');
    assert.equal(page, replaceSettingsTable(page));
    for (const name of Object.keys(SETTINGS)) assert.ok(page.includes(`| \`${name}\``), `${name} is in the table`);
  });

  it('the generated table has one home: no other page carries its markers', () => {
    const pages = ['README.md', ...readdirSync(path.join(root, 'docs')).map((f) => path.join('docs', f))].filter((f) => f.endsWith('.md'));
    const holders = pages.filter((f) => readFileSync(path.join(root, f), 'utf8').includes(TABLE_START));
    assert.deepEqual(holders, [SETTINGS_TABLE_FILE]);
  });

  it('no other module under src reads an environment variable by name', () => {
    const readers = sourceFiles(path.join(root, 'src'))
      .filter((f) => !f.endsWith(`${path.sep}settings.ts`))
      .filter((f) => /process\.env(\.|\[)/.test(readFileSync(f, 'utf8')))
      .map((f) => path.relative(root, f));
    assert.deepEqual(readers, []);
  });

  it('unset and empty variables take the default; objects are fresh copies', () => {
    const a = readSettings(['PORT', 'BNSERVE_MODEL_BATCHING', 'BNSERVE_ADMIN_TOKEN'], { PORT: '' });
    assert.equal(a.PORT, 8080);
    assert.equal(a.BNSERVE_ADMIN_TOKEN, undefined);
    a.BNSERVE_MODEL_BATCHING.iris = { maxBatchSize: 4 };
    assert.deepEqual(readSettings(['BNSERVE_MODEL_BATCHING'], {}).BNSERVE_MODEL_BATCHING, {});
    assert.deepEqual(SETTINGS.BNSERVE_MODEL_BATCHING.fallback, {});
  });

  it('model lists: `*` is every model (null), names must be model names, unset takes the default', () => {
    const keys = ['BNSERVE_RESPONSE_CACHE_MODELS', 'BNSERVE_PAYLOAD_LOG_MODELS'] as const;
    assert.deepEqual(readSettings([...keys], {}), { BNSERVE_RESPONSE_CACHE_MODELS: [], BNSERVE_PAYLOAD_LOG_MODELS: null });
    assert.deepEqual(readSettings([...keys], { BNSERVE_RESPONSE_CACHE_MODELS: '*', BNSERVE_PAYLOAD_LOG_MODELS: 'iris,mnist-2' }), {
      BNSERVE_RESPONSE_CACHE_MODELS: null,
      BNSERVE_PAYLOAD_LOG_MODELS: ['iris', 'mnist-2'],
    });
    for (const bad of ['iris,', 'iris,,mnist', 'a b', '*,iris', '-iris']) {
      assert.throws(
        () => readSettings(['BNSERVE_PAYLOAD_LOG_MODELS'], { BNSERVE_PAYLOAD_LOG_MODELS: bad }),
        /must be `\*` or model names/,
        bad,
      );
    }
  });

  it('reads only the settings asked for, and lists every bad one in one ConfigError', () => {
    const env = { PORT: 'http', BNSERVE_LOG_LEVEL: 'loud', BNSERVE_MAX_ROWS: 'x' };
    assert.equal(readSettings(['HOST'], env).HOST, '127.0.0.1');
    assert.throws(
      () => readSettings(['PORT', 'BNSERVE_LOG_LEVEL', 'HOST'], env),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.code === 'invalid_config' &&
        /^invalid setting: PORT: must be a whole number .*; BNSERVE_LOG_LEVEL: must be one of fatal, error/.test(err.message),
    );
  });

  it('BNSERVE_WASM_KERNELS takes only fast or original', () => {
    assert.equal(readSettings(['BNSERVE_WASM_KERNELS'], { BNSERVE_WASM_KERNELS: 'original' }).BNSERVE_WASM_KERNELS, 'original');
    assert.throws(() => readSettings(['BNSERVE_WASM_KERNELS'], { BNSERVE_WASM_KERNELS: 'orignal' }), ConfigError);
  });

  it('the batching settings take their ranges and defaults from src/lib/batching.ts (their one owner)', () => {
    const fields = {
      BNSERVE_BATCH_MAX_ROWS: 'maxBatchSize',
      BNSERVE_BATCH_MAX_QUEUE_DELAY_US: 'maxQueueDelayMicroseconds',
      BNSERVE_MAX_QUEUE_SIZE: 'maxQueueSize',
      BNSERVE_QUEUE_TIMEOUT_US: 'queueTimeoutMicroseconds',
      BNSERVE_INSTANCE_COUNT: 'instanceCount',
    } as const;
    for (const [name, field] of Object.entries(fields) as [keyof typeof fields, (typeof fields)[keyof typeof fields]][]) {
      const { minValue, maxValue } = batchingOptionsSchema.shape[field];
      assert.ok(minValue !== null && maxValue !== null, field);
      const read = (value: number) => readSettings([name], { [name]: String(value) })[name];
      assert.equal(read(minValue), minValue, name);
      assert.equal(read(maxValue), maxValue, name);
      assert.throws(() => read(minValue - 1), ConfigError, name);
      assert.throws(() => read(maxValue + 1), ConfigError, name);
    }
    const sizes = (value: string) => readSettings(['BNSERVE_BATCH_PREFERRED_SIZES'], { BNSERVE_BATCH_PREFERRED_SIZES: value });
    assert.deepEqual(sizes('32, 64').BNSERVE_BATCH_PREFERRED_SIZES, [32, 64]);
    assert.throws(() => sizes('0,4'), /BNSERVE_BATCH_PREFERRED_SIZES: .*>=1/, 'sizes start at 1, as the schema says');
    assert.throws(() => sizes(Array.from({ length: 33 }, (_, i) => i + 1).join(',')), ConfigError, 'at most 32 sizes');
    assert.deepEqual(DEFAULT_BATCHING, BATCHING_DEFAULTS, 'an empty environment batches with the owner’s defaults');
  });
});
