import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { reportError } from '../../src/commands/errors.ts';
import { DEFAULT_SERVE_CONFIG, serveConfigFromEnv } from '../../src/serve/config.ts';

describe('serveConfigFromEnv', () => {
  it('reads every variable, and defaults the rest', () => {
    const config = serveConfigFromEnv({
      PORT: '9000',
      BNSERVE_EXECUTION_PROVIDERS: 'cpu',
      BNSERVE_STALE_RUN_SECONDS: '90',
      BNSERVE_BATCHING: 'off',
    });
    assert.equal(config.port, 9000);
    assert.deepEqual(config.providers, ['cpu']);
    assert.equal(config.staleRunMs, 90_000);
    assert.equal(config.batching.enabled, false);
    assert.deepEqual(serveConfigFromEnv({}), DEFAULT_SERVE_CONFIG);
    assert.equal(DEFAULT_SERVE_CONFIG.staleRunMs, 30_000);
  });

  const bad: [Record<string, string>, RegExp][] = [
    [{ PORT: 'abc' }, /invalid serving configuration: PORT: /],
    [{ PORT: '70000' }, /PORT: /],
    [{ BNSERVE_BATCHING: 'maybe' }, /BNSERVE_BATCHING: /],
    [{ BNSERVE_STALE_RUN_SECONDS: '0' }, /BNSERVE_STALE_RUN_SECONDS: /],
    [{ BNSERVE_STALE_RUN_SECONDS: 'soon' }, /BNSERVE_STALE_RUN_SECONDS: /],
    [{ BNSERVE_EXECUTION_PROVIDERS: 'tpu' }, /BNSERVE_EXECUTION_PROVIDERS: unknown execution provider "tpu"/],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${JSON.stringify(env)} with a ConfigError`, () => {
      assert.throws(
        () => serveConfigFromEnv(env),
        (err: Error) => err.name === 'ConfigError' && message.test(err.message),
      );
    });
  }

  it('is reported by the CLI as a usage error (exit code 2, message only, no stack)', () => {
    let error: unknown;
    try {
      serveConfigFromEnv({ PORT: 'abc' });
    } catch (err) {
      error = err;
    }
    const written: string[] = [];
    const write = mock.method(process.stderr, 'write', (chunk: string) => {
      written.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      code = reportError(error, false);
    } finally {
      write.mock.restore();
    }
    assert.equal(code, 2);
    assert.match(written.join(''), /^bnserve: error: invalid serving configuration: PORT: .*\n$/);
    assert.doesNotMatch(written.join(''), /unexpected error|\n\s+at /);
  });
});

describe('BNSERVE_ORT_LOG_LEVEL', () => {
  it("defaults to 'fatal' (provider failures are logged by bnserve itself) and accepts onnxruntime's levels", () => {
    assert.equal(DEFAULT_SERVE_CONFIG.ortLogLevel, 'fatal');
    assert.equal(serveConfigFromEnv({}).ortLogLevel, 'fatal');
    assert.equal(serveConfigFromEnv({ BNSERVE_ORT_LOG_LEVEL: 'warning' }).ortLogLevel, 'warning');
    assert.throws(() => serveConfigFromEnv({ BNSERVE_ORT_LOG_LEVEL: 'loud' }), /BNSERVE_ORT_LOG_LEVEL/);
  });
});
