import assert from 'node:assert/strict';
import { describe, it, mock } from 'node:test';
import { reportError } from '../../src/commands/errors.ts';
import { DEFAULT_SERVE_CONFIG, ortSessionOptions, serveConfigFromEnv } from '../../src/serve/config.ts';
import { incompleteRequestBudgetBytes } from '../../src/serve/grpc/server.ts';
import { startServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { randomMlp, versionInput } from './fixtures.ts';

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
    [{ BNSERVE_LOG_LEVEL: 'loud' }, /BNSERVE_LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)/],
    [{ BNSERVE_REQUEST_TIMEOUT_MS: '30s' }, /BNSERVE_REQUEST_TIMEOUT_MS: must be a whole number from 100 to 3600000 \(got "30s"\)/],
    [{ BNSERVE_KEEP_ALIVE_TIMEOUT_MS: '500' }, /BNSERVE_KEEP_ALIVE_TIMEOUT_MS: must be at least 2000/],
    [{ BNSERVE_HEADERS_TIMEOUT_MS: '-1' }, /BNSERVE_HEADERS_TIMEOUT_MS: must be at least 100/],
    [{ BNSERVE_SHUTDOWN_TIMEOUT_MS: 'soon' }, /BNSERVE_SHUTDOWN_TIMEOUT_MS: /],
    [
      { BNSERVE_HEADERS_TIMEOUT_MS: '20000', BNSERVE_REQUEST_TIMEOUT_MS: '10000' },
      /BNSERVE_HEADERS_TIMEOUT_MS \(20000\) must not exceed BNSERVE_REQUEST_TIMEOUT_MS/,
    ],
    [{ BNSERVE_STRICT_INPUT_NAMES: 'strict' }, /BNSERVE_STRICT_INPUT_NAMES: must be one of 1, 0, true, false/],
    [{ BNSERVE_MAX_ROWS: '2.5' }, /BNSERVE_MAX_ROWS: must be a whole number/],
    [{ BNSERVE_DEFAULT_ALIAS: '2' }, /BNSERVE_DEFAULT_ALIAS: must start with a letter/],
  ];
  for (const [env, message] of bad) {
    it(`rejects ${JSON.stringify(env)} with a ConfigError`, () => {
      assert.throws(
        () => serveConfigFromEnv(env),
        (err: Error) => err.name === 'ConfigError' && message.test(err.message),
      );
    });
  }

  it('reads the HTTP timeouts, the log level and strict input names', () => {
    const config = serveConfigFromEnv({
      BNSERVE_HEADERS_TIMEOUT_MS: '2000',
      BNSERVE_REQUEST_TIMEOUT_MS: '4000',
      BNSERVE_KEEP_ALIVE_TIMEOUT_MS: '65000',
      BNSERVE_CONNECTION_TIMEOUT_MS: '0',
      BNSERVE_SHUTDOWN_TIMEOUT_MS: '25000',
      BNSERVE_LOG_LEVEL: 'warn',
      BNSERVE_STRICT_INPUT_NAMES: 'true',
    });
    assert.deepEqual(config.timeouts, { headersMs: 2000, requestMs: 4000, keepAliveMs: 65000, connectionMs: 0, shutdownMs: 25000 });
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.strictInputNames, true);
    assert.deepEqual(DEFAULT_SERVE_CONFIG.timeouts, {
      headersMs: 10_000,
      requestMs: 30_000,
      keepAliveMs: 5_000,
      connectionMs: 60_000,
      shutdownMs: 15_000,
    });
    assert.equal(DEFAULT_SERVE_CONFIG.strictInputNames, false);
  });

  it('sizes the gRPC budget for requests still arriving: 8 bodies by default, BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB when set', () => {
    assert.equal(incompleteRequestBudgetBytes(serveConfigFromEnv({})), 8 * 4 * 1024 * 1024);
    assert.equal(incompleteRequestBudgetBytes(serveConfigFromEnv({ BNSERVE_BODY_LIMIT_BYTES: '1048576' })), 8 * 1048576);
    assert.equal(incompleteRequestBudgetBytes(serveConfigFromEnv({ BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB: '64' })), 64 * 1024 * 1024);
    assert.throws(
      () => serveConfigFromEnv({ BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB: '0' }),
      /BNSERVE_GRPC_INCOMPLETE_REQUESTS_MB: must be at least 1/,
    );
  });

  it('reads the default alias (a canary serves "candidate"), production unless set', () => {
    assert.equal(serveConfigFromEnv({ BNSERVE_DEFAULT_ALIAS: 'candidate' }).defaultAlias, 'candidate');
    assert.equal(DEFAULT_SERVE_CONFIG.defaultAlias, 'production');
  });

  it('startServer checks every setting before it listens', async () => {
    const registry = new FakeRegistry();
    await assert.rejects(
      // (a server that did start is closed again, so that a failure here cannot hang the run)
      startServer({ registry, env: { BNSERVE_LOG_LEVEL: 'loud' }, port: 0 }).then((s) => s.close()),
      (err: Error) => err.name === 'ConfigError' && /BNSERVE_LOG_LEVEL: must be one of fatal, error/.test(err.message),
    );
    assert.equal(registry.calls.size, 0, 'nothing was read before the settings were checked');
  });

  it('is reported by the CLI as a usage error (exit code 2, message only, no stack)', () => {
    let error: unknown;
    try {
      serveConfigFromEnv({ PORT: 'abc', BNSERVE_LOG_LEVEL: 'loud' });
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
    assert.match(written.join(''), /^bnserve: error: invalid serving configuration: PORT: .*; BNSERVE_LOG_LEVEL: must be one of .*\n$/);
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

describe('BNSERVE_ORT_SPINNING and BNSERVE_INTRA_OP_THREADS', () => {
  it('spin only within a run by default; on leaves onnxruntime alone, off turns spinning off in both pools', () => {
    assert.deepEqual(ortSessionOptions(serveConfigFromEnv({})), { extra: { session: { force_spinning_stop: '1' } } });
    assert.equal(ortSessionOptions(serveConfigFromEnv({ BNSERVE_ORT_SPINNING: 'on' })), undefined);
    assert.equal(ortSessionOptions(serveConfigFromEnv({ BNSERVE_ORT_SPINNING: 'true' })), undefined);
    assert.deepEqual(ortSessionOptions(serveConfigFromEnv({ BNSERVE_ORT_SPINNING: 'off', BNSERVE_INTRA_OP_THREADS: '2' })), {
      intraOpNumThreads: 2,
      extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
    });
    assert.equal(serveConfigFromEnv({ BNSERVE_ORT_SPINNING: 'no' }).ortSpinning, 'off');
    assert.equal(serveConfigFromEnv({ BNSERVE_ORT_SPINNING: 'run' }).ortSpinning, 'run');
    assert.throws(() => serveConfigFromEnv({ BNSERVE_ORT_SPINNING: 'sometimes' }), /BNSERVE_ORT_SPINNING: must be one of .*run/);
  });

  it('a server with spinning off loads its models and answers', async () => {
    const registry = new FakeRegistry();
    await registry.registerVersion(versionInput('iris', randomMlp(3), 'classification'));
    const server = await startServer({
      registry,
      env: { BNSERVE_ORT_SPINNING: 'off' },
      port: 0,
      providers: ['cpu'],
      logger: false,
      refreshIntervalMs: 0,
    });
    try {
      const r = await fetch(`${server.url}/v1/models/iris:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] }),
      });
      assert.equal(r.status, 200);
    } finally {
      await server.close();
    }
  });
});
