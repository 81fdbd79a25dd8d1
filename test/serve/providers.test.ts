import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ProviderChain, SessionCreateError, createSessionWithFallback, parseProviderList } from '../../src/serve/dataplane/providers.ts';
import { cudaLibraryPresent, reluOnnx } from './fixtures.ts';

const noCuda = { skip: cudaLibraryPresent() ? 'the CUDA provider is installed here' : false };

describe('parseProviderList', () => {
  it('accepts short and full names, trims and de-duplicates', () => {
    assert.deepEqual(parseProviderList('cuda,cpu'), ['cuda', 'cpu']);
    assert.deepEqual(parseProviderList(' CUDAExecutionProvider , cpu,cuda '), ['cuda', 'cpu']);
    assert.deepEqual(parseProviderList('CPU'), ['cpu']);
  });

  it('rejects unknown or empty lists with the known names', () => {
    assert.throws(() => parseProviderList('tpu,cpu'), /unknown execution provider "tpu" \(known: cpu, cuda/);
    assert.throws(() => parseProviderList(' , '), /empty/);
  });
});

describe('createSessionWithFallback (real onnxruntime-node)', () => {
  it('falls back from cuda to cpu on a machine without CUDA and says so', noCuda, async () => {
    const seen: string[] = [];
    const { session, provider, failures } = await createSessionWithFallback(reluOnnx(), ['cuda', 'cpu'], {
      onFallback: (f, next) => seen.push(`${f.provider}->${next}`),
    });
    try {
      assert.equal(provider, 'CPUExecutionProvider');
      assert.deepEqual(
        failures.map((f) => f.provider),
        ['cuda'],
      );
      assert.match(failures[0].message, /cuda/i);
      assert.deepEqual(seen, ['cuda->cpu']);
      const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from([-1, 2, -3, 4]), [1, 4]) });
      assert.deepEqual([...(out.out.data as Float32Array)], [0, 2, 0, 4]);
    } finally {
      await session.release();
    }
  });

  it('uses cpu directly when asked, with no failures', async () => {
    const { session, provider, failures } = await createSessionWithFallback(reluOnnx(), ['cpu']);
    await session.release();
    assert.equal(provider, 'CPUExecutionProvider');
    assert.deepEqual(failures, []);
  });

  it('throws when no provider works', noCuda, async () => {
    await assert.rejects(createSessionWithFallback(reluOnnx(), ['cuda']), (err: unknown) => {
      assert.ok(err instanceof SessionCreateError);
      assert.match(err.message, /tried cuda/);
      return true;
    });
  });

  it('reports a broken model as such after trying every provider', async () => {
    await assert.rejects(createSessionWithFallback(new Uint8Array([1, 2, 3, 4]), ['cuda', 'cpu']), /tried cuda, cpu\): .*protobuf/i);
  });
});

describe('ProviderChain', () => {
  it('logs an unavailable provider once and skips it afterwards', noCuda, async () => {
    const logs: string[] = [];
    const chain = new ProviderChain(['cuda', 'cpu'], (message) => logs.push(message));
    const first = await chain.createSession(reluOnnx());
    const second = await chain.createSession(reluOnnx());
    await first.session.release();
    await second.session.release();
    assert.equal(first.provider, 'CPUExecutionProvider');
    assert.equal(second.provider, 'CPUExecutionProvider');
    assert.deepEqual(second.failures, [], 'cuda is not tried again');
    assert.equal(logs.length, 1);
    assert.match(logs[0], /cuda is unavailable, using CPUExecutionProvider/);
    assert.deepEqual(chain.effective, ['cpu']);
    assert.deepEqual([...chain.unavailableProviders.keys()], ['cuda']);
  });
});
