// Promote every second (admin route, alternating two distinct versions) under load on both
// protocols: no request may fail, and every answer must come from a version that was live at some
// moment while that request was in flight, with the probabilities of that version.
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { answerOf, type HttpAnswer, inferSpec, keepAliveAgent, loadLoop, predictSpec, request, type Timed } from '../harness/http.ts';
import { sleep } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { type ServerProcess, ServerProcess as Server } from '../harness/server.ts';

interface Promotion {
  version: number;
  sentAt: number;
  doneAt: number;
  status: number;
}

/** Probabilities each version gives for the load's row, asked by version number. */
export async function expectedByVersion(server: ServerProcess, versions: number[]): Promise<Map<number, number[]>> {
  const expected = new Map<number, number[]>();
  for (const v of versions) {
    const answer = await request(server.url, predictSpec(MODEL, undefined, `/v1/models/${MODEL}/versions/${v}:predict`));
    const parsed = answer.status === 200 ? answerOf(answer.body) : null;
    if (!parsed) throw new Error(`version ${v} did not answer: ${answer.status} ${answer.body.slice(0, 200)}`);
    expected.set(v, parsed.probabilities);
  }
  return expected;
}

export const maxAbsDiff = (a: number[], b: number[]) =>
  a.length !== b.length ? Infinity : Math.max(...a.map((x, i) => Math.abs(x - b[i])));

/** Whether `version` may have been live at some moment in [start, end], given the promotions in order. */
export function wasLive(version: number, start: number, end: number, promotions: Promotion[]): boolean {
  for (let i = 0; i < promotions.length; i++) {
    const p = promotions[i];
    if (p.version !== version) continue;
    // It may take over as soon as its promote is sent, and stays until the next promote has returned.
    const from = p.sentAt;
    const until = i + 1 < promotions.length ? promotions[i + 1].doneAt : Infinity;
    if (from <= end && start <= until) return true;
  }
  return false;
}

export const hotSwap: Scenario = {
  name: 'hot-swap',
  budgetSeconds: { short: 120, full: 180 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const [first, second] = golden.versions.map((v) => v.version);
    const server = await Server.start(cloneGolden(golden, ctx.work, 'hotswap'));
    try {
      const initial = await server.promote(MODEL, first);
      if (initial.status !== 200) throw new Error(`setup promote answered ${initial.status} ${initial.body}`);
      const promotions: Promotion[] = [{ version: first, sentAt: -Infinity, doneAt: performance.now(), status: 200 }];
      const expected = await expectedByVersion(server, [first, second]);
      const gap = maxAbsDiff(expected.get(first)!, expected.get(second)!);
      checks.add('the two versions answer differently', gap > 1e-4, `max |p(v${first}) − p(v${second})| = ${gap.toExponential(2)}`);

      const seconds = ctx.short ? 8 : 30;
      let stop = false;
      const outcomes: Array<Timed<HttpAnswer> & { protocol: string }> = [];
      const agent = keepAliveAgent(8);
      const load = loadLoop({
        workers: 8,
        maxRequests: 2_000_000,
        maxMs: (seconds + 15) * 1000,
        stop: () => stop,
        send: (i) => request(server.url, i % 2 ? predictSpec(MODEL) : inferSpec(MODEL), { agent, timeoutMs: 15_000 }),
        onResult: (o, i) => outcomes.push({ ...o, protocol: i % 2 ? ':predict' : 'v2 infer' }),
      });
      await sleep(500);
      for (let k = 0; k < seconds; k++) {
        const tick = performance.now();
        const version = k % 2 === 0 ? second : first;
        const sentAt = performance.now();
        const answer = await server.promote(MODEL, version);
        promotions.push({ version, sentAt, doneAt: performance.now(), status: answer.status });
        await sleep(Math.max(0, 1000 - (performance.now() - tick)));
      }
      await sleep(500);
      stop = true;
      await load;
      agent.destroy();

      const okPromotions = promotions.filter((p) => p.status === 200);
      const failedPromotions = promotions.length - okPromotions.length;
      let failed = 0;
      let lost = 0;
      let notLive = 0;
      let wrongNumbers = 0;
      const byVersion: Record<string, number> = {};
      const examples: string[] = [];
      const notLiveExamples: string[] = [];
      for (const o of outcomes) {
        if (o.error) {
          lost++;
          if (examples.length < 5) examples.push(`${o.protocol}: ${o.error}`);
          continue;
        }
        const answer = o.result!.status === 200 ? answerOf(o.result!.body) : null;
        if (!answer) {
          failed++;
          if (examples.length < 5) examples.push(`${o.protocol}: ${o.result!.status} ${o.result!.body.slice(0, 120)}`);
          continue;
        }
        byVersion[answer.version] = (byVersion[answer.version] ?? 0) + 1;
        if (!wasLive(answer.version, o.startedAt, o.endedAt, okPromotions)) {
          notLive++;
          const last = okPromotions.filter((p) => p.doneAt <= o.startedAt).at(-1);
          if (last && notLiveExamples.length < 8)
            notLiveExamples.push(
              `v${answer.version} answered a request sent ${(o.startedAt - last.doneAt).toFixed(0)} ms after promote(v${last.version}) returned (took ${(o.endedAt - o.startedAt).toFixed(0)} ms)`,
            );
          failed++;
        } else if (maxAbsDiff(answer.probabilities, expected.get(answer.version) ?? []) > 1e-5) {
          wrongNumbers++;
          failed++;
        }
      }
      checks.add(
        'every promote answered 200',
        failedPromotions === 0,
        `${promotions.length - 1 - failedPromotions}/${promotions.length - 1} promotes ok`,
      );
      checks.add(
        'no failed or lost request',
        failed - notLive - wrongNumbers + lost === 0,
        `${outcomes.length} sent, ${failed - notLive - wrongNumbers} non-200, ${lost} lost${examples.length ? `: ${examples.join(' | ')}` : ''}`,
      );
      checks.add(
        'every answer from a version live at that moment',
        notLive === 0,
        `${notLive} answers named a version that was not live while the request was in flight${notLiveExamples.length ? `, e.g. ${notLiveExamples.slice(0, 3).join('; ')}` : ''}`,
      );
      checks.add(
        "every answer has its version's probabilities",
        wrongNumbers === 0,
        `${wrongNumbers} answers differ by > 1e-5 from the version they name`,
      );
      checks.add('both versions served', Object.keys(byVersion).length === 2, `answers by version: ${JSON.stringify(byVersion)}`);
      return {
        scenario: 'hot-swap',
        pass: checks.pass,
        sent: outcomes.length,
        failed,
        lost,
        outcome: checks.pass
          ? `${promotions.length - 1} promotes in ${seconds} s; answers by version ${JSON.stringify(byVersion)}`
          : checks.outcome(),
        checks: checks.list,
        numbers: {
          seconds,
          promotes: promotions.length - 1,
          failedPromotions,
          byVersion,
          notLive,
          notLiveExamples,
          wrongNumbers,
          requestsPerSecond: outcomes.length / seconds,
        },
      };
    } finally {
      await server.kill();
    }
  },
};
