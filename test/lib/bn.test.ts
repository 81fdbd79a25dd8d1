// BatchNormalization's layer defaults, the BN guard's default limits and its verdicts have one owner,
// src/lib/bn.ts: the trainer's config schema, the checkpoint reader and the dashboard (its API, its
// views and, through the API's types, the UI) read them there.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BN_GUARD_DEFAULTS, BN_LAYER_DEFAULTS, BN_VERDICTS, channelMoments, compareMoments } from '../../src/lib/bn.ts';
import { runDetail, runSummary } from '../../src/serve/dashboard/api-schemas.ts';
import { bnGuardLimitsOf, bnLayersOf } from '../../src/serve/dashboard/views.ts';
import { parseTrainConfig } from '../../src/train/config.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const OWNER = path.join(ROOT, 'src/lib/bn.ts');

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? tsFilesUnder(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** A number on its own (not part of 100, 0.015 or a name). */
const num = (n: string) => `(?<![\\w.])${n.replace('.', '\\.')}(?![\\w.])`;
const RESTATED: { what: string; pattern: RegExp }[] = [
  { what: 'a BN layer default', pattern: new RegExp(`\\b(momentum|epsilon)\\b.*(${num('0.99')}|${num('0.001')}|${num('1e-3')})`) },
  {
    what: 'a BN guard default',
    pattern: new RegExp(
      `\\b(maxResidual|maxMeanGap|maxVarianceRatio)\\b.*(${num('0.05')}|${num('2.5')}|(:\\s*|default\\(|,\\s*)${num('1')})`,
    ),
  },
  { what: 'the verdict list', pattern: /'ok'\s*[,|]\s*'flagged'/ },
];

/** "file:line (what)" for each line that restates a BN default or the verdict list. */
export function restatedBnFacts(files: readonly { file: string; text: string }[]): string[] {
  return files.flatMap(({ file, text }) =>
    text.split('\n').flatMap((line, i) => RESTATED.filter((r) => r.pattern.test(line)).map((r) => `${file}:${i + 1} (${r.what})`)),
  );
}

describe('BN defaults and verdicts (src/lib/bn.ts)', () => {
  it('are what a config without them trains with', () => {
    const config = parseTrainConfig({ data: { kind: 'iris' }, layers: [{ type: 'dense', units: 4 }, { type: 'batchNormalization' }] });
    const { type: _type, ...bn } = config.layers[1] as Record<string, unknown>;
    assert.deepEqual(bn, BN_LAYER_DEFAULTS);
    assert.deepEqual(config.bnGuard, BN_GUARD_DEFAULTS);
  });

  it('are what the dashboard assumes of a stored config that lacks them', () => {
    assert.deepEqual(bnLayersOf({ layers: [{ type: 'batchNormalization' }] }), [{ index: 0, momentum: BN_LAYER_DEFAULTS.momentum }]);
    assert.deepEqual(bnGuardLimitsOf({ layers: [] }), BN_GUARD_DEFAULTS);
    assert.deepEqual(bnGuardLimitsOf({ bnGuard: { maxResidual: 0.2 } }), { ...BN_GUARD_DEFAULTS, maxResidual: 0.2 });
    assert.deepEqual(runSummary.shape.bnGuard.shape.verdict.options, [...BN_VERDICTS]);
    assert.deepEqual(Object.keys(runDetail.shape.bnGuardDetails.shape.limits.shape).sort(), Object.keys(BN_GUARD_DEFAULTS).sort());
  });

  it('are declared nowhere else in src/ or ui/src/', () => {
    const files = [...tsFilesUnder(path.join(ROOT, 'src')), ...tsFilesUnder(path.join(ROOT, 'ui/src'))]
      .filter((file) => file !== OWNER)
      .map((file) => ({ file: path.relative(ROOT, file), text: readFileSync(file, 'utf8') }));
    assert.deepEqual(restatedBnFacts(files), []);
  });

  it('finds a restated default or verdict list (the check can fail)', () => {
    const text = [
      'momentum: bnMomentum.default(0.99),',
      'const epsilon = Number(c.epsilon ?? 1e-3);',
      "return { maxResidual: num('maxResidual', 0.05), maxMeanGap: num('maxMeanGap', 1) };",
      'maxMeanGap: z.number().positive().default(1),',
      "export type BnVerdict = 'ok' | 'flagged' | 'no-bn' | 'unchecked';",
      "verdict: z.enum(['ok', 'flagged', 'no-bn', 'unchecked']),",
      "limits.maxResidual * 100; momentum: BN_LAYER_DEFAULTS.momentum; return { verdict: 'ok', detail: null };",
    ].join('\n');
    assert.deepEqual(restatedBnFacts([{ file: 'x.ts', text }]), [
      'x.ts:1 (a BN layer default)',
      'x.ts:2 (a BN layer default)',
      'x.ts:3 (a BN guard default)',
      'x.ts:4 (a BN guard default)',
      'x.ts:5 (the verdict list)',
      'x.ts:6 (the verdict list)',
    ]);
  });
});

describe('channel moments (src/lib/bn.ts)', () => {
  it('channels last (tfjs) and on axis 1 with spatial positions after them (ONNX NCHW) give the same moments', () => {
    // Two rows, 2 channels, 3 positions: NCHW [2, 2, 3] and the same values channels-last [2, 3, 2].
    const nchw = [1, 2, 3, 10, 20, 30, 4, 5, 6, 40, 50, 60];
    const nhwc = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60];
    const a = channelMoments(nchw, 2, 3);
    const b = channelMoments(nhwc, 2);
    assert.deepEqual([...a.mean], [3.5, 35]);
    assert.deepEqual([...a.mean], [...b.mean]);
    assert.deepEqual([...a.variance], [...b.variance]);
    assert.ok(Math.abs(a.variance[0] - 35 / 12) < 1e-12);
  });

  it('compareMoments measures the mean gap in data std and the variance ratio both ways', () => {
    const check = compareMoments('bn', { mean: [2, 0], variance: [4, 1] }, { mean: [0, 0], variance: [1, 1] }, 0);
    assert.deepEqual(check, { name: 'bn', meanGap: 2, varianceRatio: 4 });
  });
});
