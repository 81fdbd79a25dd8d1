// The hot-swap scenario's verdict on "was this version live while the request was in flight?".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { wasLive } from '../../faults/scenarios/hot-swap.ts';

// v1 live from the start; promote(v2) sent at 100, returned at 110; promote(v1) sent at 200, returned at 210.
const promotions = [
  { version: 1, sentAt: -Infinity, doneAt: 0, status: 200 },
  { version: 2, sentAt: 100, doneAt: 110, status: 200 },
  { version: 1, sentAt: 200, doneAt: 210, status: 200 },
];

test('an answer from the version promoted last before the request is live', () => {
  assert.equal(wasLive(2, 120, 130, promotions), true);
  assert.equal(wasLive(1, 220, 230, promotions), true);
});

test('the old version may still answer while a promote is in flight', () => {
  assert.equal(wasLive(1, 105, 108, promotions), true);
  assert.equal(wasLive(2, 205, 209, promotions), true);
});

test('an answer from the previous version after the promote returned is not live', () => {
  assert.equal(wasLive(1, 120, 130, promotions), false);
  assert.equal(wasLive(2, 215, 230, promotions), false);
});

test('a request spanning a swap may get either version', () => {
  assert.equal(wasLive(1, 50, 150, promotions), true);
  assert.equal(wasLive(2, 50, 150, promotions), true);
});

test('a version never promoted is never live', () => {
  assert.equal(wasLive(3, 0, 1000, promotions), false);
});
