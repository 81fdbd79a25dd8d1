import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { metricsFromJson, metricsToJson } from '../../src/registry/records.ts';

describe('metric records', () => {
  it('keep a metric named like a prototype member as a metric, both ways', () => {
    const metrics = JSON.parse('{"__proto__": 0.5, "constructor": 2, "loss": 0.1}') as Record<string, number>;
    const stored = metricsToJson(metrics);
    assert.deepEqual(Object.keys(stored).sort(), ['__proto__', 'constructor', 'loss']);
    assert.equal(Object.getPrototypeOf(stored), Object.prototype);
    const read = metricsFromJson(JSON.parse(JSON.stringify(stored)));
    assert.equal(Object.hasOwn(read, '__proto__'), true);
    assert.equal(read.loss, 0.1);
  });

  it('store non-finite values as null and read them back as NaN', () => {
    assert.deepEqual(metricsToJson({ loss: Number.POSITIVE_INFINITY }), { loss: null });
    assert.ok(Number.isNaN(metricsFromJson({ loss: null }).loss));
  });
});
