// `npm run faults [-- --short] [scenario…]`: starts real bnserve processes against temp registries
// and artifact stores (loopback only), injects one fault per scenario, and reports per scenario
// requests sent / failed / lost and PASS/FAIL as a markdown table on stdout and as JSON in
// .bench/faults.json (`--results FILE` to change). Exit code 1 when any scenario fails.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FaultContext, Scenario } from './harness/context.ts';
import { trainGolden, type Golden } from './harness/fixtures.ts';
import { killAll, ROOT } from './harness/processes.ts';
import { checkLines, markdownTable, type ScenarioResult } from './harness/report.ts';
import { artifactFaults } from './scenarios/artifact-faults.ts';
import { dashboardHostile } from './scenarios/dashboard-hostile.ts';
import { grpcStall } from './scenarios/grpc-stall.ts';
import { hostileHttp } from './scenarios/hostile-http.ts';
import { hotSwap } from './scenarios/hot-swap.ts';
import { modelBudget } from './scenarios/model-budget.ts';
import { payloadLogStall } from './scenarios/payload-log-stall.ts';
import { prototypeAliases } from './scenarios/prototype-aliases.ts';
import { registryFaults } from './scenarios/registry-faults.ts';
import { sigtermDrain } from './scenarios/sigterm-drain.ts';
import { soak } from './scenarios/soak.ts';
import { trainerKill } from './scenarios/trainer-kill.ts';

const SCENARIOS: Scenario[] = [
  hostileHttp,
  prototypeAliases,
  dashboardHostile,
  grpcStall,
  payloadLogStall,
  hotSwap,
  modelBudget,
  sigtermDrain,
  artifactFaults,
  registryFaults,
  trainerKill,
  soak,
];

function parseArgs(argv: string[]): { short: boolean; keep: boolean; results: string; names: string[] } {
  const names: string[] = [];
  let short = false;
  let keep = false;
  let results = path.join(ROOT, '.bench', 'faults.json');
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--short') short = true;
    else if (a === '--keep') keep = true;
    else if (a === '--results') results = path.resolve(argv[++i] ?? '');
    else if (a === '--help' || a === '-h') {
      console.log(`usage: npm run faults -- [--short] [--keep] [--results FILE] [${SCENARIOS.map((s) => s.name).join('|')}…]`);
      process.exit(0);
    } else names.push(a);
  }
  for (const n of names) {
    if (!SCENARIOS.some((s) => s.name === n)) {
      console.error(`unknown scenario "${n}"; available: ${SCENARIOS.map((s) => s.name).join(', ')}`);
      process.exit(2);
    }
  }
  return { short, keep, results, names };
}

async function runScenario(scenario: Scenario, ctx: FaultContext): Promise<ScenarioResult> {
  const budget = ctx.short ? scenario.budgetSeconds.short : scenario.budgetSeconds.full;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`scenario exceeded its ${budget} s budget`)), budget * 1000);
  });
  try {
    const result = await Promise.race([scenario.run(ctx), overrun]);
    return { ...result, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    return {
      scenario: scenario.name,
      pass: false,
      sent: 0,
      failed: 0,
      lost: 0,
      outcome: `harness error: ${message.split('\n')[0]}`,
      checks: [{ name: 'scenario ran', pass: false, detail: message.slice(0, 4000) }],
      numbers: {},
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    clearTimeout(timer);
    killAll();
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const selected = args.names.length > 0 ? SCENARIOS.filter((s) => args.names.includes(s.name)) : SCENARIOS;
  const work = mkdtempSync(path.join(os.tmpdir(), 'bnserve-faults-'));
  let golden: Promise<Golden> | null = null;
  const suiteStarted = performance.now();
  const ctx: FaultContext = {
    short: args.short,
    work,
    golden: () => {
      golden ??= trainGolden(work);
      return golden;
    },
    log: (m) => process.stderr.write(`[faults ${((performance.now() - suiteStarted) / 1000).toFixed(1)}s] ${m}\n`),
  };
  const cleanup = () => {
    killAll();
    if (!args.keep) rmSync(work, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });

  ctx.log(`mode ${args.short ? 'short' : 'full'}; work folder ${work}`);
  const results: ScenarioResult[] = [];
  try {
    for (const scenario of selected) {
      ctx.log(`scenario ${scenario.name}…`);
      const result = await runScenario(scenario, ctx);
      ctx.log(`scenario ${scenario.name}: ${result.skipped ? 'SKIP' : result.pass ? 'PASS' : 'FAIL'} (${result.seconds.toFixed(1)} s)`);
      results.push(result);
    }
  } finally {
    cleanup();
  }

  const failed = results.filter((r) => !r.pass && !r.skipped);
  const seconds = (performance.now() - suiteStarted) / 1000;
  console.log(`## bnserve fault suite (${args.short ? 'short' : 'full'} mode, ${seconds.toFixed(0)} s, Node ${process.version})\n`);
  console.log(markdownTable(results));
  console.log(checkLines(results));
  console.log(
    `\n${results.length - failed.length}/${results.length} scenarios passed${failed.length ? `; failed: ${failed.map((r) => r.scenario).join(', ')}` : ''}`,
  );
  mkdirSync(path.dirname(args.results), { recursive: true });
  writeFileSync(
    args.results,
    `${JSON.stringify({ mode: args.short ? 'short' : 'full', node: process.version, startedAt: new Date(Date.now() - seconds * 1000).toISOString(), seconds, results }, null, 2)}\n`,
  );
  console.log(`results: ${path.relative(process.cwd(), args.results) || args.results}`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

await main();
