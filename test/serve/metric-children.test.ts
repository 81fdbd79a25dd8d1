// The per-request metric children update prom-client's series exactly as prom-client's own children do.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { counterChild, histogramChild } from '../../src/serve/dataplane/metric-children.ts';

const BUCKETS = [0.001, 0.01, 0.1, 1];
/** Values below, at, between and past the buckets' bounds, and zero and negatives. */
const VALUES = [0, -0.5, 0.0005, 0.001, 0.0010001, 0.05, 0.1, 0.7, 1, 1.5, 40, 0.001];

function twins() {
  const make = () => {
    const registry = new Registry();
    const histogram = new Histogram({
      name: 'h',
      help: 'h',
      labelNames: ['model', 'version'] as const,
      buckets: BUCKETS,
      registers: [registry],
    });
    const counter = new Counter({ name: 'c', help: 'c', labelNames: ['model', 'status'] as const, registers: [registry] });
    return { registry, histogram, counter };
  };
  return { ours: make(), theirs: make() };
}

describe('metric children', () => {
  it('histogram and counter series match prom-client’s own children, across several series and a reset', async () => {
    const { ours, theirs } = twins();
    const series = [
      { model: 'iris', version: '1' },
      { model: 'mlp', version: '2' },
    ];
    const fast = series.map((l) => histogramChild(ours.histogram, l));
    const fastCount = series.map((l) => counterChild(ours.counter, { model: l.model, status: '200' }));
    const play = () => {
      VALUES.forEach((v, i) => {
        const s = i % 2;
        fast[s].observe(v);
        theirs.histogram.labels(series[s]).observe(v);
        fastCount[s].inc();
        theirs.counter.labels({ model: series[s].model, status: '200' }).inc();
      });
    };
    play();
    assert.equal(await ours.registry.metrics(), await theirs.registry.metrics());
    ours.registry.resetMetrics();
    theirs.registry.resetMetrics();
    play();
    play();
    const text = await ours.registry.metrics();
    assert.equal(text, await theirs.registry.metrics());
    assert.match(text, /h_bucket\{le="0.001",model="iris",version="1"\} 4\n/);
    assert.match(text, /c\{model="mlp",status="200"\} 12\n/);
  });

  it('a series another caller created is found and shared', async () => {
    const { ours, theirs } = twins();
    ours.histogram.observe({ model: 'iris', version: '1' }, 0.5);
    theirs.histogram.observe({ model: 'iris', version: '1' }, 0.5);
    const child = histogramChild(ours.histogram, { model: 'iris', version: '1' });
    for (const v of VALUES) {
      child.observe(v);
      theirs.histogram.observe({ model: 'iris', version: '1' }, v);
    }
    assert.equal(await ours.registry.metrics(), await theirs.registry.metrics());
  });

  it('refuses what prom-client refuses', () => {
    const { ours } = twins();
    const child = histogramChild(ours.histogram, { model: 'iris', version: '1' });
    child.observe(1);
    assert.throws(() => child.observe(Number.NaN), /not a valid number/);
  });
});
