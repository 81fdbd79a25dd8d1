// JavaScript's built-in property names ("toString", "constructor", "__proto__"…) as aliases, model
// names, version labels, output names, feature keys and header values against a real `bnserve serve`:
// every answer is "no such thing" (404) or "not a valid name" (400/415), none is a 5xx, and no 503
// is counted (bnserve_unavailable_responses_total stays where it was). Then a server whose default
// alias is "constructor" (not set in the registry) serves the latest version, as for any unset alias.
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { IRIS_ROW, request, type RequestSpec } from '../harness/http.ts';
import { Checks } from '../harness/report.ts';
import { ADMIN_TOKEN, ServerProcess } from '../harness/server.ts';

/** Own names of Object.prototype, plus __proto__: what a plain-object lookup finds without being told. */
export const PROTOTYPE_NAMES = ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'valueOf', '__defineGetter__'];

export interface Probe {
  label: string;
  spec: RequestSpec;
  /** The one status that is right. */
  expected: number;
}

const json = { 'content-type': 'application/json' };
const bearer = { authorization: `Bearer ${ADMIN_TOKEN}` };
const admin = { ...json, ...bearer };

/** Every request that puts `name` where user text names something, with the answer it must get. */
export function prototypeProbes(model: string, name: string): Probe[] {
  const path = encodeURIComponent(name);
  // The registry's name rules start with a letter or digit: "__proto__" is refused before any lookup.
  const missing = /^[A-Za-z0-9]/.test(name) ? 404 : 400;
  const missingAlias = /^[A-Za-z]/.test(name) ? 404 : 400;
  const predict = JSON.stringify({ instances: [IRIS_ROW] });
  const infer = (extra: object = {}) =>
    JSON.stringify({ inputs: [{ name: 'input', shape: [1, IRIS_ROW.length], datatype: 'FP32', data: IRIS_ROW }], ...extra });
  const probe = (label: string, expected: number, spec: RequestSpec): Probe => ({ label: `${label} "${name}"`, spec, expected });
  return [
    probe('alias :predict', missingAlias, {
      method: 'POST',
      path: `/v1/models/${model}/labels/${path}:predict`,
      headers: json,
      body: predict,
    }),
    probe('alias status', missingAlias, { path: `/v1/models/${model}/labels/${path}` }),
    probe('alias metadata', missingAlias, { path: `/v1/models/${model}/labels/${path}/metadata` }),
    probe('model :predict', missing, { method: 'POST', path: `/v1/models/${path}:predict`, headers: json, body: predict }),
    probe('model infer', missing, { method: 'POST', path: `/v2/models/${path}/infer`, headers: json, body: infer() }),
    probe('model metadata', missing, { path: `/v2/models/${path}` }),
    probe('model ready', missing, { path: `/v2/models/${path}/ready` }),
    probe('model config', missing, { path: `/v2/models/${path}/config` }),
    probe('model stats', missing, { path: `/v2/models/${path}/stats` }),
    probe('model status', missing, { path: `/v1/models/${path}` }),
    probe('model batching', missing, { path: `/admin/models/${path}/batching`, headers: bearer }),
    probe('model batching (PUT)', missing, { method: 'PUT', path: `/admin/models/${path}/batching`, headers: admin, body: '{}' }),
    probe('model load', missing, { method: 'POST', path: `/v2/repository/models/${path}/load`, headers: bearer }),
    probe('model unload', missing, { method: 'POST', path: `/v2/repository/models/${path}/unload`, headers: bearer }),
    probe('version infer', 400, { method: 'POST', path: `/v2/models/${model}/versions/${path}/infer`, headers: json, body: infer() }),
    probe('version :predict', 400, {
      method: 'POST',
      path: `/v1/models/${model}/versions/${path}:predict`,
      headers: json,
      body: predict,
    }),
    probe('version metadata', 400, { path: `/v2/models/${model}/versions/${path}` }),
    probe('output name', 400, { method: 'POST', path: `/v2/models/${model}/infer`, headers: json, body: infer({ outputs: [{ name }] }) }),
    probe('feature key', 400, {
      method: 'POST',
      path: `/v1/models/${model}:predict`,
      headers: json,
      body: `{"instances": [{${JSON.stringify(name)}: 1}]}`,
    }),
    probe('Content-Encoding', 415, {
      method: 'POST',
      path: `/v1/models/${model}:predict`,
      headers: { ...json, 'content-encoding': name },
      body: predict,
    }),
    // An alias the registry could hold, moved to a version that does not exist: 404, and nothing moves.
    probe('promote alias', missingAlias, {
      method: 'POST',
      path: `/admin/models/${model}/promote`,
      headers: admin,
      body: JSON.stringify({ version: 999, alias: name }),
    }),
  ];
}

/** Sum of every sample of a counter in Prometheus text. */
export function counterTotal(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return total;
}

/** Requests answered 5xx, from bnserve_requests_total. */
function fiveXxTotal(metrics: string): number {
  return metrics
    .split('\n')
    .filter((line) => line.startsWith('bnserve_requests_total{') && /status="5\d\d"/.test(line))
    .reduce((sum, line) => sum + (Number(line.slice(line.lastIndexOf(' ') + 1)) || 0), 0);
}

export const prototypeAliases: Scenario = {
  name: 'prototype-aliases',
  budgetSeconds: { short: 90, full: 120 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const location = cloneGolden(golden, ctx.work, 'prototype');
    const latest = Math.max(...golden.versions.map((v) => v.version));
    let sent = 0;
    let failed = 0;
    let lost = 0;
    const wrong: string[] = [];
    const byStatus: Record<string, number> = {};

    const server = await ServerProcess.start(location);
    try {
      const promoted = await server.promote(MODEL, golden.versions[0].version);
      if (promoted.status !== 200) throw new Error(`setup: promote answered ${promoted.status} ${promoted.body}`);
      const metrics = async () => (await request(server.url, { path: '/metrics' })).body;
      const before = await metrics();

      for (const name of PROTOTYPE_NAMES) {
        for (const p of prototypeProbes(MODEL, name)) {
          sent++;
          const answer = await request(server.url, p.spec, { timeoutMs: 15_000 }).catch((err: Error) => {
            lost++;
            if (wrong.length < 10) wrong.push(`${p.label} → no answer: ${err.message}`);
            return null;
          });
          if (!answer) continue;
          byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
          // A lookup that found a built-in shows it in the message ("function Object() { [native code] }").
          const leaked = /native code|function |\[object /.test(answer.body);
          if (answer.status !== p.expected || leaked) {
            failed++;
            if (wrong.length < 10) wrong.push(`${p.label} → ${answer.status} (expected ${p.expected}) ${answer.body.slice(0, 160)}`);
          }
        }
      }
      const after = await metrics();
      checks.add('every probe got its 404/400/415', failed === 0 && lost === 0, wrong.length === 0 ? `${sent} probes` : wrong.join(' | '));
      const answered5xx = Object.entries(byStatus)
        .filter(([status]) => status.startsWith('5'))
        .reduce((sum, [, n]) => sum + n, 0);
      const counted5xx = fiveXxTotal(after) - fiveXxTotal(before);
      checks.add('no 5xx', answered5xx === 0 && counted5xx === 0, `${answered5xx} answered, ${counted5xx} in bnserve_requests_total`);
      const unavailable =
        counterTotal(after, 'bnserve_unavailable_responses_total') - counterTotal(before, 'bnserve_unavailable_responses_total');
      checks.add('bnserve_unavailable_responses_total not bumped', unavailable === 0, `+${unavailable}`);
      const valid = await request(server.url, {
        method: 'POST',
        path: `/v1/models/${MODEL}:predict`,
        headers: json,
        body: JSON.stringify({ instances: [IRIS_ROW] }),
      });
      checks.add('a valid request still answers', valid.status === 200, `${valid.status}`);
    } finally {
      await server.kill();
    }

    // A default alias named like a built-in and not set in the registry: the latest version serves, as for any unset alias.
    const constructorDefault = await ServerProcess.start(location, { env: { BNSERVE_DEFAULT_ALIAS: 'constructor' } });
    try {
      sent++;
      const answer = await request(constructorDefault.url, {
        method: 'POST',
        path: `/v1/models/${MODEL}:predict`,
        headers: json,
        body: JSON.stringify({ instances: [IRIS_ROW] }),
      });
      const version = answer.status === 200 ? (JSON.parse(answer.body) as { model_version: number }).model_version : null;
      if (version !== latest) failed++;
      checks.add(
        'BNSERVE_DEFAULT_ALIAS=constructor (unset) serves the latest version',
        version === latest,
        `${answer.status} version ${version} (latest ${latest})${answer.status !== 200 ? ` ${answer.body.slice(0, 160)}` : ''}`,
      );
    } finally {
      await constructorDefault.kill();
    }

    return {
      scenario: 'prototype-aliases',
      pass: checks.pass,
      sent,
      failed,
      lost,
      outcome: checks.pass ? `${sent} requests: every built-in name a 404/400/415, no 5xx, no 503 counted` : checks.outcome(),
      checks: checks.list,
      numbers: { byStatus },
    };
  },
};
