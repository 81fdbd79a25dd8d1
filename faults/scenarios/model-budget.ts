// Eight models share a budget of two loaded versions (BNSERVE_MAX_LOADED_VERSIONS=2) under
// concurrent load spread over all eight, on both REST forms: no request may fail, versions must be
// unloaded and loaded again on demand (evictions counted in /metrics), and every answer must carry
// its model's probabilities, computed here with onnxruntime from the same ONNX files.
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import type { Scenario } from '../harness/context.ts';
import { cloneGolden } from '../harness/fixtures.ts';
import {
  answerOf,
  BORDER_ROW,
  type HttpAnswer,
  inferSpec,
  keepAliveAgent,
  loadLoop,
  predictSpec,
  request,
  type Timed,
} from '../harness/http.ts';
import { runBnserve } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { ADMIN_TOKEN, registryEnvOf, ServerProcess as Server } from '../harness/server.ts';
import { maxAbsDiff } from './hot-swap.ts';

const MODELS = Array.from({ length: 8 }, (_, i) => `budget-m${i}`);
const BUDGET = 2;

/** First-row probabilities of an ONNX file for the load's row, straight from onnxruntime. */
async function reference(file: string): Promise<number[]> {
  const session = await ort.InferenceSession.create(file);
  try {
    const out = await session.run({ input: new ort.Tensor('float32', Float32Array.from(BORDER_ROW), [1, BORDER_ROW.length]) });
    return [...(out.probabilities.data as Float32Array)];
  } finally {
    await session.release();
  }
}

/**
 * The first row's probabilities from a v2 infer or :predict answer. An imported file carries no
 * task, so :predict answers its first output as a regression row (`prediction`: the probabilities).
 */
function probabilitiesOf(body: string): number[] | null {
  const answer = answerOf(body);
  if (answer) return answer.probabilities;
  try {
    const row = (JSON.parse(body) as { predictions?: Array<{ prediction?: unknown }> }).predictions?.[0]?.prediction;
    return Array.isArray(row) && row.every((x) => typeof x === 'number') ? row : null;
  } catch {
    return null;
  }
}

/** Sum of a Prometheus metric's samples whose line starts with `prefix` (name plus optional labels). */
export function metricSum(text: string, prefix: string): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(prefix))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

async function repositoryIndex(url: string): Promise<{ name: string; version: string; state: string; reason: string }[]> {
  const answer = await request(url, {
    method: 'POST',
    path: '/v2/repository/index',
    headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
  });
  return JSON.parse(answer.body);
}

export const modelBudget: Scenario = {
  name: 'model-budget',
  budgetSeconds: { short: 150, full: 240 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const location = cloneGolden(golden, ctx.work, 'budget');
    // Two distinct trained models, each imported under four names: m0, m2, … answer as the first.
    const files = golden.versions.map((v) => path.join(golden.artifacts, v.relativePath));
    for (const [i, name] of MODELS.entries()) {
      const imported = await runBnserve(['import', files[i % 2], '--name', name, '--json'], registryEnvOf(location));
      if (imported.code !== 0) throw new Error(`bnserve import ${name} exited ${imported.code}: ${imported.stderr.slice(-500)}`);
    }
    const expected = await Promise.all(files.map(reference));
    const gap = maxAbsDiff(expected[0], expected[1]);
    checks.add('the two trained models answer differently', gap > 1e-4, `max |p(first) − p(second)| = ${gap.toExponential(2)}`);

    const server = await Server.start(location, { env: { BNSERVE_MAX_LOADED_VERSIONS: String(BUDGET) } });
    try {
      const seconds = ctx.short ? 8 : 30;
      const outcomes: Array<Timed<HttpAnswer> & { model: number }> = [];
      const agent = keepAliveAgent(8);
      // A model drawn at random per request: every request has a good chance to find its model unloaded.
      const picks: number[] = [];
      await loadLoop({
        workers: 8,
        maxRequests: 2_000_000,
        maxMs: seconds * 1000,
        send: (i) => {
          picks[i] = Math.floor(Math.random() * MODELS.length);
          const model = MODELS[picks[i]];
          return request(server.url, i % 2 ? predictSpec(model) : inferSpec(model), { agent, timeoutMs: 15_000 });
        },
        onResult: (o, i) => outcomes.push({ ...o, model: picks[i] }),
      });
      agent.destroy();

      let failed = 0;
      let lost = 0;
      let wrongNumbers = 0;
      const examples: string[] = [];
      for (const o of outcomes) {
        if (o.error) {
          lost++;
          if (examples.length < 5) examples.push(`${MODELS[o.model]}: ${o.error}`);
          continue;
        }
        const probabilities = o.result!.status === 200 ? probabilitiesOf(o.result!.body) : null;
        if (!probabilities) {
          failed++;
          if (examples.length < 5) examples.push(`${MODELS[o.model]}: ${o.result!.status} ${o.result!.body.slice(0, 160)}`);
        } else if (maxAbsDiff(probabilities, expected[o.model % 2]) > 1e-5) {
          wrongNumbers++;
          failed++;
        }
      }
      const metrics = (await request(server.url, { path: '/metrics' })).body;
      const evictions = metricSum(metrics, 'bnserve_model_evictions_total{');
      const onDemandLoads = metricSum(metrics, 'bnserve_model_loads_total{') - metricSum(metrics, 'bnserve_model_loads_total{model="iris"');
      const coldStarts = metricSum(metrics, 'bnserve_model_cold_start_seconds_count');
      const coldSeconds = metricSum(metrics, 'bnserve_model_cold_start_seconds_sum');
      const loadedNow = (await repositoryIndex(server.url)).filter((e) => e.state === 'READY');

      // One evicted model, asked once: the cold start as a client sees it, next to a warm request.
      const evicted = (await repositoryIndex(server.url)).find((e) => e.state === 'UNAVAILABLE' && MODELS.includes(e.name));
      let coldMs: number | null = null;
      let warmMs: number | null = null;
      if (evicted) {
        const timed = async () => {
          const started = performance.now();
          const answer = await request(server.url, inferSpec(evicted.name));
          return { ms: performance.now() - started, ok: answer.status === 200 };
        };
        const cold = await timed();
        const warm = await timed();
        if (cold.ok && warm.ok) {
          coldMs = cold.ms;
          warmMs = warm.ms;
        }
      }

      checks.add(
        'no failed or lost request',
        failed - wrongNumbers + lost === 0,
        `${outcomes.length} sent, ${failed - wrongNumbers} non-200, ${lost} lost${examples.length ? `: ${examples.join(' | ')}` : ''}`,
      );
      checks.add(
        "every answer has its model's probabilities",
        wrongNumbers === 0,
        `${wrongNumbers} answers differ by > 1e-5 from onnxruntime's`,
      );
      checks.add(
        'versions were unloaded and loaded again (counted in /metrics)',
        evictions > 0 && coldStarts > 0,
        `${evictions} evictions, ${onDemandLoads} loads of the eight, ${coldStarts} cold starts`,
      );
      checks.add(
        `at most ${BUDGET} versions loaded once the load is over`,
        loadedNow.length <= BUDGET,
        `loaded: ${loadedNow.map((e) => `${e.name}@${e.version}`).join(', ')}`,
      );
      checks.add(
        'an evicted model answers its next request',
        coldMs !== null,
        evicted ? `${evicted.name} answered` : 'no model was evicted',
      );
      const coldStartMeanMs = coldStarts > 0 ? (coldSeconds / coldStarts) * 1000 : null;
      return {
        scenario: 'model-budget',
        pass: checks.pass,
        sent: outcomes.length,
        failed,
        lost,
        outcome: checks.pass
          ? `${outcomes.length} requests over 8 models in ${seconds} s with ${BUDGET} loaded at most: ${evictions} evictions, ` +
            `cold start mean ${coldStartMeanMs?.toFixed(1)} ms (server), ${coldMs?.toFixed(1)} ms vs ${warmMs?.toFixed(1)} ms warm (client)`
          : checks.outcome(),
        checks: checks.list,
        numbers: {
          seconds,
          evictions,
          onDemandLoads,
          coldStarts,
          coldStartMeanMs,
          clientColdMs: coldMs,
          clientWarmMs: warmMs,
          requestsPerSecond: outcomes.length / seconds,
        },
      };
    } finally {
      await server.kill();
    }
  },
};
