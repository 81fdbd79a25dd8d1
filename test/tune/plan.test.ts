// The sweep plan of `bnserve tune`: which settings (equivalent ones removed, coarse to fine) and
// how many of them fit a time budget. Pure: no server, no clock.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type Candidate,
  candidates,
  DEFAULT_GRID,
  normalize,
  planSweep,
  REFERENCE,
  settingCost,
  settingKey,
  type SweepTiming,
  type TunedSetting,
} from '../../src/tune/plan.ts';

const DEFAULTS: TunedSetting = {
  enabled: true,
  maxBatchSize: 512,
  maxQueueDelayMicroseconds: 0,
  preferredBatchSizes: [],
  instanceCount: 1,
};
const TIMING: SweepTiming = { warmupS: 1, windowS: 2, settleS: 1, reloadS: 3, concurrencies: [1, 8, 32] };

describe('candidates', () => {
  const list = candidates(DEFAULTS);

  test('the current setting comes first, then the reference, then settings one knob away from it', () => {
    assert.equal(list[0].source, 'current');
    assert.deepEqual(normalize(list[0]), { ...DEFAULTS, source: 'current' });
    assert.equal(settingKey(list[1]), settingKey(REFERENCE));
    const oneAway = list.slice(2, 10);
    for (const c of oneAway) {
      if (c.maxBatchSize === 1) {
        // No batching: its delay and preferred sizes mean nothing, so only the max batch size counts as changed.
        assert.equal(c.instanceCount, REFERENCE.instanceCount);
        continue;
      }
      const differing = (['maxBatchSize', 'maxQueueDelayMicroseconds', 'instanceCount'] as const).filter((k) => c[k] !== REFERENCE[k]);
      const preferredDiffers = c.preferredBatchSizes.length > 0;
      assert.equal(differing.length + Number(preferredDiffers), 1, `${settingKey(c)} should differ from the reference in one knob`);
    }
    assert.ok(
      oneAway.some((c) => c.maxBatchSize === 1),
      'no batching at all is among the first settings measured',
    );
    const at = (mb: number, delay: number) =>
      list.findIndex(
        (c) =>
          c.maxBatchSize === mb && c.maxQueueDelayMicroseconds === delay && c.instanceCount === 1 && c.preferredBatchSizes.length === 0,
      );
    assert.ok(at(1, 0) < at(64, 100), 'no batching is one change away from the reference (its delay means nothing)');
  });

  test('no two candidates are the same setting, and equivalent settings are not measured twice', () => {
    const keys = list.map(settingKey);
    assert.equal(new Set(keys).size, keys.length);
    // A max batch of 1 never merges: no delay, no preferred sizes, once per instance count.
    const single = list.filter((c) => c.source === 'grid' && c.maxBatchSize === 1);
    assert.deepEqual(
      single.map((c) => [c.maxQueueDelayMicroseconds, c.preferredBatchSizes.length, c.instanceCount]),
      [
        [0, 0, 1],
        [0, 0, 2],
      ],
    );
    // Without a delay nothing waits, so preferred sizes are pruned there.
    assert.ok(list.every((c) => c.maxQueueDelayMicroseconds > 0 || c.preferredBatchSizes.length === 0));
    // 4 × 4 × 2 × 2 = 64 combinations; max batch 1 keeps 2, each other size 1 + 3 × 2 per instance count.
    assert.equal(list.filter((c) => c.source === 'grid').length, 2 + 3 * 7 * 2);
  });

  test('a current setting equal to a grid setting is measured once, as the current one', () => {
    const current = { ...REFERENCE, preferredBatchSizes: [64] }; // preferred ≥ max batch: the same as none
    const again = candidates(current);
    assert.equal(again[0].source, 'current');
    assert.equal(again.filter((c) => settingKey(c) === settingKey(REFERENCE)).length, 1);
    assert.equal(again.length, list.length - 1, 'the grid twin of the current setting is not listed again');
  });

  test('preferred "half" is half the max batch size, only with a delay', () => {
    const withPreferred = list.filter((c) => c.preferredBatchSizes.length > 0);
    assert.ok(withPreferred.length > 0);
    for (const c of withPreferred) assert.deepEqual(c.preferredBatchSizes, [c.maxBatchSize / 2]);
  });

  test('normalize: batching off or a max batch of 1 drops the delay and preferred sizes', () => {
    assert.deepEqual(normalize({ ...REFERENCE, enabled: false, preferredBatchSizes: [4] }), {
      ...REFERENCE,
      enabled: false,
      maxQueueDelayMicroseconds: 0,
      preferredBatchSizes: [],
    });
    assert.deepEqual(normalize({ ...REFERENCE, maxBatchSize: 1, preferredBatchSizes: [1] }).maxQueueDelayMicroseconds, 0);
    assert.deepEqual(normalize({ ...REFERENCE, preferredBatchSizes: [8, 8, 4] }).preferredBatchSizes, [4, 8]);
  });
});

describe('planSweep: bounded by the budget', () => {
  const ranked = candidates(DEFAULTS);
  const cost = settingCost(TIMING);

  test('one setting costs warm-up + window + settling at each concurrency', () => {
    assert.equal(cost, 3 * (1 + 2 + 1));
  });

  test('a budget for the whole grid measures everything and skips nothing', () => {
    const plan = planSweep(ranked, TIMING, 10_000, 1);
    assert.equal(plan.measured.length, ranked.length);
    assert.deepEqual(plan.skipped, []);
    assert.equal(plan.estimatedS, ranked.length * cost + TIMING.reloadS);
  });

  test('a small budget measures the first settings in rank order, lists the rest as skipped, and stays within it', () => {
    for (const budget of [cost, 2 * cost + 1, 60, 120, 300]) {
      const plan = planSweep(ranked, TIMING, budget, 1);
      assert.ok(plan.estimatedS <= budget, `estimate ${plan.estimatedS} s over a ${budget} s budget`);
      assert.equal(plan.measured.length + plan.skipped.length, ranked.length, 'every setting is measured or listed as skipped');
      const key = (c: Candidate) => settingKey(c);
      const measured = new Set(plan.measured.map(key));
      assert.ok(measured.has(key(ranked[0])), 'the current setting is always measured first when anything is');
      assert.ok(plan.skipped.length > 0);
      // Nothing skipped would have fitted: each costs more than what is left.
      for (const c of plan.skipped) {
        const extra = cost + (plan.measured.some((m) => m.instanceCount === c.instanceCount) || c.instanceCount === 1 ? 0 : TIMING.reloadS);
        assert.ok(plan.estimatedS + extra > budget, `${key(c)} would have fitted into the ${budget} s budget`);
      }
    }
  });

  test('a budget below one setting measures nothing', () => {
    const plan = planSweep(ranked, TIMING, cost - 0.1, 1);
    assert.deepEqual(plan.measured, []);
    assert.equal(plan.skipped.length, ranked.length);
  });

  test('a setting at an instance count not yet loaded pays one reload, once per instance count', () => {
    const twoInstances = ranked.filter((c) => c.instanceCount === 2).slice(0, 2);
    assert.equal(planSweep(twoInstances, TIMING, 1000, 1).estimatedS, 2 * cost + TIMING.reloadS);
    assert.equal(planSweep(twoInstances, TIMING, 1000, 2).estimatedS, 2 * cost);
    // Exactly enough for the two settings, not for the reload: only one fits.
    assert.equal(planSweep(twoInstances, TIMING, 2 * cost, 1).measured.length, 1);
  });

  test('runs the loaded instance count first, then each other count together (the fewest reloads)', () => {
    const plan = planSweep(ranked, TIMING, 10_000, 2);
    const counts = plan.measured.map((c) => c.instanceCount);
    const firstOne = counts.indexOf(1);
    assert.ok(counts.slice(0, firstOne).every((n) => n === 2));
    assert.ok(counts.slice(firstOne).every((n) => n === 1));
  });

  test('the default grid is the documented one', () => {
    assert.deepEqual(DEFAULT_GRID, {
      maxBatchSizes: [1, 8, 32, 64],
      queueDelaysMicroseconds: [0, 100, 500, 2000],
      preferred: ['none', 'half'],
      instanceCounts: [1, 2],
    });
  });
});
