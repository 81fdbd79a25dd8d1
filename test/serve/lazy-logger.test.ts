// Request loggers are made on first use, and then behave as the child Fastify would have made.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { LazyChildLogger } from '../../src/serve/http/lazy-logger.ts';

function recordingParent() {
  const made: { bindings: object; calls: unknown[][] }[] = [];
  const logger = (bindings: object, level: string): FastifyBaseLogger => {
    const calls: unknown[][] = [];
    made.push({ bindings, calls });
    const log = (...args: unknown[]) => calls.push(args);
    return { level, fatal: log, error: log, warn: log, info: log, debug: log, trace: log, silent: log, child: (b) => logger(b, level) };
  };
  return { parent: logger({}, 'info'), made };
}

test('the child is made on the first log call, with the bindings, once', () => {
  const { parent, made } = recordingParent();
  const lazy = new LazyChildLogger(parent, { reqId: 'r1' }, {});
  assert.equal(lazy.level, 'info', "the parent's level before any child exists");
  assert.equal(made.length, 1, 'reading the level makes no child');
  lazy.info({ a: 1 }, 'first');
  lazy.warn('second');
  assert.equal(made.length, 2, 'one child');
  assert.deepEqual(made[1].bindings, { reqId: 'r1' });
  assert.deepEqual(made[1].calls, [[{ a: 1 }, 'first'], ['second']]);
});

test("a route's log level is the child's level", () => {
  const { parent } = recordingParent();
  assert.equal(new LazyChildLogger(parent, { reqId: 'r1' }, { level: 'warn' }).level, 'warn');
});
