// Which measured setting `bnserve tune` recommends, and how the table shows it. Pure: made-up
// measurements in, the verdict and the text out.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { chooseBest, disqualification, type Measurement, type SettingResult } from '../../src/tune/choose.ts';
import type { Candidate } from '../../src/tune/plan.ts';
import type { SweepReport } from '../../src/tune/sweep.ts';
import { formatSweep } from '../../src/tune/table.ts';

const C = [1, 8, 32];

function setting(maxBatchSize: number, source: Candidate['source'] = 'grid'): Candidate {
  return { source, enabled: true, maxBatchSize, maxQueueDelayMicroseconds: 100, preferredBatchSizes: [], instanceCount: 1 };
}

function m(concurrency: number, requestsPerSecond: number, p99Ms: number, failed = 0): Measurement {
  return { concurrency, requestsPerSecond, p50Ms: 1, p99Ms, rowsPerRun: 1, requests: 100, failed };
}

/** One setting measured at 1, 8 and 32 with these req/s and p99s. */
function result(maxBatchSize: number, rps: number[], p99: number[], source: Candidate['source'] = 'grid'): SettingResult {
  return { candidate: setting(maxBatchSize, source), measurements: C.map((c, i) => m(c, rps[i], p99[i])) };
}

describe('chooseBest', () => {
  const results = [
    result(512, [900, 4000, 6000], [1, 3, 9], 'current'),
    result(8, [1000, 5000, 7000], [1, 2, 6]),
    result(32, [950, 4500, 9000], [1, 4, 12]),
    result(64, [800, 4200, 8000], [2, 5, 20]),
  ];

  test('without a target: the highest req/s at the highest concurrency', () => {
    assert.equal(chooseBest(results, C, null).best, 2);
  });

  test('with a target: the fastest among settings whose p99 meets it at every concurrency', () => {
    const choice = chooseBest(results, C, 10);
    assert.equal(choice.best, 1);
    assert.deepEqual(
      choice.disqualified.map((d) => d !== null),
      [false, false, true, true],
    );
    assert.match(choice.disqualified[2]!, /p99 12 ms > 10 ms at concurrency 32/);
  });

  test('a p99 equal to the target meets it', () => {
    assert.equal(chooseBest(results, C, 12).best, 2);
  });

  test('none meets the target: no best, every setting says why', () => {
    const choice = chooseBest(results, C, 0.5);
    assert.equal(choice.best, null);
    assert.ok(choice.disqualified.every((d) => d !== null && /p99 .* > 0\.5 ms/.test(d)));
  });

  test('a setting with failed requests is never the best, however fast', () => {
    const failing: SettingResult = {
      candidate: setting(16),
      measurements: [m(1, 5000, 1), m(8, 50_000, 1, 3), m(32, 90_000, 1)],
    };
    const choice = chooseBest([...results, failing], C, null);
    assert.equal(choice.best, 2);
    assert.match(choice.disqualified[4]!, /3 failed request\(s\) at concurrency 8/);
  });

  test('a setting not measured at every concurrency does not qualify', () => {
    const partial: SettingResult = { candidate: setting(16), measurements: [m(1, 5000, 1)] };
    assert.match(disqualification(partial, C, null)!, /not measured at concurrency 8/);
    assert.equal(chooseBest([partial], C, null).best, null);
  });

  test('ties: the lower p99 at the highest concurrency, then the earlier setting', () => {
    const a = result(8, [1, 1, 100], [1, 1, 5]);
    const b = result(16, [1, 1, 100], [1, 1, 4]);
    const c = result(32, [1, 1, 100], [1, 1, 4]);
    assert.equal(chooseBest([a, b, c], C, null).best, 1);
  });

  test('a window in which no request was answered does not qualify', () => {
    const silent: SettingResult = { candidate: setting(16), measurements: C.map((c) => ({ ...m(c, 0, 0), requests: 0 })) };
    assert.match(disqualification(silent, C, null)!, /no request answered at concurrency 1/);
  });

  test('nothing measured: no best', () => {
    assert.deepEqual(chooseBest([], C, null), { best: null, disqualified: [] });
  });
});

describe('formatSweep', () => {
  const base: SweepReport = {
    model: 'iris',
    version: 3,
    rowsPerRequest: 1,
    rowSource: 'warm-up sample',
    concurrencies: C,
    p99TargetMs: 10,
    budgetS: 60,
    elapsedS: 42,
    current: setting(512),
    results: [result(512, [900, 4000, 6000], [1, 3, 9], 'current'), result(32, [950, 4500, 9000], [1, 4, 12])],
    skipped: [setting(64)],
    best: 0,
    disqualified: [null, 'p99 12 ms > 10 ms at concurrency 32'],
    stoppedBy: null,
  };

  test('one line per setting and concurrency, the best marked, the skipped settings and the budget said', () => {
    const text = formatSweep(base);
    const lines = text.split('\n');
    assert.match(
      lines[0],
      /tuned iris version 3: 1 row\(s\) per request \(warm-up sample\), concurrency 1, 8, 32, p99 target 10 ms; 42 s of a 60 s budget/,
    );
    const header = lines.find((l) => l.includes('req/s'))!;
    for (const column of ['setting', 'c', 'req/s', 'p50 ms', 'p99 ms', 'rows/run', 'verdict']) assert.ok(header.includes(column), column);
    const tableRows = lines.slice(lines.indexOf(header) + 1, lines.indexOf(header) + 1 + 6);
    assert.equal(tableRows.length, 6);
    assert.match(tableRows[0], /^\*\s+1\s+current: batch 512, delay 100 µs, 1 instance\s+1\s+900\s+1\s+1\s+1\.00\s+ok$/);
    assert.match(tableRows[3], /^\s+2\s+batch 32, delay 100 µs, 1 instance .* p99 12 ms > 10 ms at concurrency 32$/);
    assert.match(
      text,
      /not measured \(the 60 s budget did not fit them; raise --budget-s to include them\): 1 setting\(s\)\n {2}batch 64, delay 100 µs, 1 instance/,
    );
    assert.match(text, /best \(\* above\): current: batch 512, delay 100 µs, 1 instance/);
  });

  test('a sweep the server cut short says where it stopped', () => {
    const text = formatSweep({
      ...base,
      stoppedBy: 'batch 8, delay 0 µs, 2 instances: POST /v2/repository/models/iris/load got no answer within 60 s',
    });
    assert.match(
      text,
      /stopped early, the server stopped answering at batch 8, delay 0 µs, 2 instances: POST .*load got no answer within 60 s/,
    );
    assert.match(text, /not measured \(the sweep stopped early, or the 60 s budget did not fit them\): 1 setting\(s\)/);
  });

  test('no best: says that nothing met the target', () => {
    const text = formatSweep({ ...base, best: null, disqualified: ['p99 9 ms > 5 ms at concurrency 32', 'x'], p99TargetMs: 5 });
    assert.doesNotMatch(text, /^\*/m);
    assert.match(text, /no measured setting met the p99 target of 5 ms at every concurrency without failures: nothing to recommend/);
  });
});
