import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { boundedText, loggedError } from '../../src/serve/http/bounded-error.ts';
import { buildApp } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';

/** An internal error as a failed response serialisation raises it: a huge message and a cause listing every issue. */
function hugeError(): Error {
  const issues = Array.from({ length: 100_000 }, (_, i) => ({ path: ['cells', i], message: 'expected number, received NaN' }));
  const cause = Object.assign(new Error(JSON.stringify(issues)), { name: 'ZodError', issues });
  return Object.assign(new Error(`Response doesn't match the schema: ${JSON.stringify(issues)}`, { cause }), {
    code: 'FST_ERR_RESPONSE_SERIALIZATION',
  });
}

describe('errors in the request log', () => {
  it('keep a bounded prefix of each text and say how much was cut', () => {
    assert.equal(boundedText('short'), 'short');
    const cut = boundedText('x'.repeat(5000), 100);
    assert.equal(cut, `${'x'.repeat(100)}…(4900 more characters)`);
  });

  it('keep type, code, issue count and the cause, each bounded', () => {
    const logged = loggedError(hugeError());
    assert.ok(typeof logged === 'object');
    assert.equal(logged.code, 'FST_ERR_RESPONSE_SERIALIZATION');
    assert.ok(logged.message.length < 2100);
    assert.ok(typeof logged.cause === 'object' && logged.cause.issues === 100_000 && logged.cause.type === 'ZodError');
    assert.ok(JSON.stringify(logged).length < 20_000, `${JSON.stringify(logged).length} characters`);
  });

  it('an internal error with a 5 MB message writes one short log line and answers 500 without internals', async () => {
    const lines: string[] = [];
    const app = await buildApp({
      registry: new FakeRegistry(),
      env: {},
      providers: ['cpu'],
      refreshIntervalMs: 0,
      logger: { level: 'info', stream: { write: (line: string) => lines.push(line) } },
      extend: (instance) => {
        instance.get('/test/huge-error', async () => {
          throw hugeError();
        });
      },
    });
    after(() => app.close());
    const response = await app.inject('/test/huge-error');
    assert.equal(response.statusCode, 500);
    assert.deepEqual(response.json(), { error: 'internal server error' });
    const errorLines = lines.filter((line) => line.includes('internal error'));
    assert.equal(errorLines.length, 1);
    assert.ok(errorLines[0].length < 20_000, `a log line of ${errorLines[0].length} bytes`);
  });
});
