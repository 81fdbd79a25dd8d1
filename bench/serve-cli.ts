// `npm run bench -- serve-cli [--duration 3] [--rounds 3] [--only TEXT] [--env K=V,…]`: the server users run (`bnserve serve`
// from dist/, a real SQLite registry, its default log level to a file, gRPC on; bench/cli-server.ts)
// next to a bare Fastify route that runs the same ONNX files with onnxruntime once per request (the
// least any per-request server pays) and a bare echo route. Scenarios run interleaved, medians of
// the rounds; server CPU µs per request from /proc; idle RSS after the models are loaded.
// --only keeps the scenarios whose name contains TEXT and skips the idle-RSS waits (for profiling
// one change quickly; the targets whose scenarios did not run are left out); --env adds settings to
// every `bnserve serve` process, the idle-RSS one included (e.g. BNSERVE_ORT_SPINNING=off,
// MALLOC_ARENA_MAX=2), to measure what a setting changes.
// bench/serve-ceiling.ts keeps the in-process server (tsx, a fake registry) as a profile aid.
import { createRequire } from 'node:module';
import os from 'node:os';
import { deepMlpOnnx } from '../test/serve/fixtures.ts';
import {
  type CliRegistry,
  type CliServer,
  mainThreadCpuMicroseconds,
  prepareCliRegistry,
  processCpuMicroseconds,
  processRssMb,
  startCliServer,
  stopCliServer,
} from './cli-server.ts';
import { median } from './median.ts';
import { MAX_LOAD, waitForQuietMachine } from './quiet.ts';
import { option } from './options.ts';
import { IRIS_ROW, JSON_HEADERS, MLP_ROW, predictBody, v2BinaryRequest, v2JsonBody } from './request-bodies.ts';
import { ortRowsPerSecond } from './ort-rows.ts';
import { MLP_SIZES, startServerChild, stopServerChild } from './serve-child.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

type ServerName = 'cli' | 'cliIris' | 'cliOff' | 'bare' | 'echo';
const LABELS: Record<ServerName, string> = {
  cliIris: '`bnserve serve`, Iris model only (idle RSS only)',
  cli: '`bnserve serve` (defaults)',
  cliOff: '`bnserve serve`, BNSERVE_BATCHING=off',
  bare: 'bare Fastify + onnxruntime, same files',
  echo: 'bare Fastify echo',
};

interface Scenario {
  id: string;
  server: ServerName;
  path: string;
  body: string | Buffer;
  headers: Record<string, string>;
  connections: number;
}

function scenarios(): Scenario[] {
  const predict = (id: string, server: ServerName, model: 'iris' | 'mlp', connections: number): Scenario => ({
    id,
    server,
    path: server === 'echo' ? '/echo' : `/v1/models/${model}:predict`,
    body: predictBody(model === 'iris' ? IRIS_ROW : MLP_ROW),
    headers: JSON_HEADERS,
    connections,
  });
  return [
    predict('iris echo c=1', 'echo', 'iris', 1),
    predict('iris bare+ORT c=1', 'bare', 'iris', 1),
    predict('iris bnserve c=1', 'cli', 'iris', 1),
    predict('iris echo c=64', 'echo', 'iris', 64),
    predict('iris bare+ORT c=64', 'bare', 'iris', 64),
    predict('iris bnserve c=64', 'cli', 'iris', 64),
    predict('mlp bare+ORT c=1', 'bare', 'mlp', 1),
    predict('mlp bnserve c=1', 'cli', 'mlp', 1),
    predict('mlp bare+ORT c=64', 'bare', 'mlp', 64),
    predict('mlp bnserve c=64', 'cli', 'mlp', 64),
    predict('mlp bnserve batching off c=64', 'cliOff', 'mlp', 64),
    {
      id: 'mlp bnserve v2 JSON c=64',
      server: 'cli',
      path: '/v2/models/mlp/infer',
      body: v2JsonBody(MLP_ROW),
      headers: JSON_HEADERS,
      connections: 64,
    },
    { id: 'mlp bnserve v2 binary c=64', server: 'cli', path: '/v2/models/mlp/infer', ...v2BinaryRequest(MLP_ROW), connections: 64 },
  ];
}

interface Running {
  pid: number;
  url: string;
  stop: () => Promise<void>;
  idleRssMb: number;
}

/**
 * Idle RSS is read after IDLE_MS without requests: V8 gives back the young generation its start-up
 * grew (~20 MB) only after some seconds of idleness, and a serving process lives in that state.
 */
const IDLE_MS = 20_000;
const idle = () => new Promise((r) => setTimeout(r, IDLE_MS));

/** --env K=V,K2=V2: settings for the `bnserve serve` processes. */
function cliEnv(): NodeJS.ProcessEnv {
  const pairs = option('env', '')
    .split(',')
    .filter((p) => p !== '');
  return Object.fromEntries(
    pairs.map((p) => {
      const eq = p.indexOf('=');
      if (eq <= 0) throw new Error(`--env takes KEY=VALUE pairs separated by commas, not ${JSON.stringify(p)}`);
      return [p.slice(0, eq), p.slice(eq + 1)];
    }),
  );
}

async function startAll(registry: CliRegistry, measureRss: boolean): Promise<Map<ServerName, Running>> {
  const running = new Map<ServerName, Running>();
  const fromCli = (server: CliServer): Running => ({
    pid: server.child.pid!,
    url: server.url,
    stop: () => stopCliServer(server),
    idleRssMb: Number.NaN,
  });
  const env = cliEnv();
  if (measureRss) {
    // Measured alone, then stopped: it only answers the memory target.
    const irisOnly = await startCliServer(prepareCliRegistry(true), 'cli-iris', env);
    await idle();
    running.set('cliIris', { ...fromCli(irisOnly), idleRssMb: processRssMb(irisOnly.child.pid!), stop: async () => {} });
    await stopCliServer(irisOnly);
  }
  running.set('cli', fromCli(await startCliServer(registry, 'cli', env)));
  running.set('cliOff', fromCli(await startCliServer(registry, 'cli-off', { ...env, BNSERVE_BATCHING: 'off' })));
  const bareEnv = {
    BENCH_ONNX_IRIS: registry.artifacts.iris,
    ...(registry.artifacts.mlp ? { BENCH_ONNX_MLP: registry.artifacts.mlp } : {}),
  };
  for (const [name, kind, env] of [
    ['bare', 'bare-ort', bareEnv],
    ['echo', 'echo', {}],
  ] as const) {
    const child = await startServerChild(kind, env);
    running.set(name, { pid: child.child.pid!, url: child.url, stop: () => stopServerChild(child.child), idleRssMb: Number.NaN });
  }
  if (measureRss) {
    await idle();
    for (const [name, server] of running) if (name !== 'cliIris') server.idleRssMb = processRssMb(server.pid);
  }
  return running;
}

interface Row {
  rps: number[];
  cpuPerRequest: number[];
  /** The event loop's share of cpuPerRequest. */
  mainCpuPerRequest: number[];
  p50: number[];
  p99: number[];
  failures: number;
}

export async function benchServeCli(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const duration = Math.min(30, Math.max(1, Number(option('duration', '3'))));
  const rounds = Math.max(1, Number(option('rounds', '3')));
  const loadAtStart = await waitForQuietMachine();
  process.stderr.write('serve-cli: filling a registry through the CLI (train iris, import the MLP)\n');
  const registry = prepareCliRegistry();
  const only = option('only', '');
  const all = scenarios().filter((s) => s.id.includes(only));
  const rows = new Map<string, Row>(
    all.map((s) => [s.id, { rps: [], cpuPerRequest: [], mainCpuPerRequest: [], p50: [], p99: [], failures: 0 }]),
  );
  const servers = await startAll(registry, only === '');
  try {
    for (const s of all) {
      const load = {
        url: servers.get(s.server)!.url + s.path,
        method: 'POST',
        headers: s.headers,
        body: s.body,
        connections: s.connections,
      };
      await autocannon({ ...load, duration: 1 }); // warm-up
    }
    for (let round = 0; round < rounds; round++) {
      for (const s of all) {
        const server = servers.get(s.server)!;
        const load = { url: server.url + s.path, method: 'POST', headers: s.headers, body: s.body, connections: s.connections };
        const cpuBefore = processCpuMicroseconds(server.pid);
        const mainBefore = mainThreadCpuMicroseconds(server.pid);
        const r = await autocannon({ ...load, duration });
        const cpu = processCpuMicroseconds(server.pid) - cpuBefore;
        const mainCpu = mainThreadCpuMicroseconds(server.pid) - mainBefore;
        const row = rows.get(s.id)!;
        row.rps.push(r.requests.average);
        if (r.requests.total > 0) {
          row.cpuPerRequest.push(cpu / r.requests.total);
          row.mainCpuPerRequest.push(mainCpu / r.requests.total);
        }
        row.p50.push(r.latency.p50);
        row.p99.push(r.latency.p99);
        row.failures += r.non2xx + r.errors + r.timeouts;
      }
      process.stderr.write(`serve-cli: round ${round + 1}/${rounds} done\n`);
    }
  } finally {
    for (const s of servers.values()) await s.stop();
  }
  const ort = await ortRowsPerSecond(deepMlpOnnx(11, MLP_SIZES), MLP_SIZES[0], [1, 16, 64, 256], 1);
  const bestOrt = Math.max(...ort.map((o) => o.rowsPerSecond));

  const med = (id: string) => (rows.get(id)?.rps.length ? median(rows.get(id)!.rps) : Number.NaN);
  const cpus = os.cpus();
  const lines = [
    `\n## serve-cli: the real \`bnserve serve\` (dist/, SQLite registry, log to a file, gRPC on) — 1-row requests, ${rounds} interleaved rounds × ${duration} s, medians`,
    `${cpus.length} × ${cpus[0]?.model ?? 'CPU'}, Node ${process.version}, load average at start ${loadAtStart.toFixed(2)}, at end ${os.loadavg()[0].toFixed(2)}`,
    ...(option('env', '') ? [`\`bnserve serve\` with ${option('env', '')}`] : []),
    '',
    // autocannon's latency histogram holds whole milliseconds: a sub-millisecond p50 prints as 0, so
    // the mean latency comes from Little's law (connections ÷ req/s), in µs.
    '| scenario | server | req/s | server CPU µs/req | of which main thread | mean latency µs | p50 ms | p99 ms | failures |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
    ...all.map((s) => {
      const r = rows.get(s.id)!;
      const us = (xs: number[]) => (xs.length > 0 ? median(xs).toFixed(0) : '');
      return `| ${s.id} | ${LABELS[s.server]} | ${med(s.id).toFixed(0)} | ${us(r.cpuPerRequest)} | ${us(r.mainCpuPerRequest)} | ${((s.connections / med(s.id)) * 1e6).toFixed(0)} | ${median(r.p50).toFixed(2)} | ${median(r.p99).toFixed(2)} | ${r.failures} |`;
    }),
    ...(only === ''
      ? [
          '',
          `| server | idle RSS after ${IDLE_MS / 1000} s without requests, models loaded (MB) |`,
          '|---|---:|',
          ...[...servers].map(([name, s]) => `| ${LABELS[name]} | ${s.idleRssMb.toFixed(0)} |`),
        ]
      : []),
    '',
    `in-process onnxruntime, MLP: ${ort.map((o) => `batch ${o.batch} ${o.rowsPerSecond.toFixed(0)} rows/s`).join(', ')}`,
    '',
    'targets (issue 27):',
  ];
  // A target whose scenarios did not run (--only) has no value and no line.
  const target = (name: string, value: number, goal: number, atMost = false) =>
    Number.isNaN(value)
      ? []
      : [
          `  ${name}: ${value.toFixed(2)} (target ${atMost ? '≤' : '≥'} ${goal}: ${(atMost ? value <= goal : value >= goal) ? 'met' : 'MISSED'})`,
        ];
  lines.push(
    ...target('iris bnserve / bare+ORT c=1', med('iris bnserve c=1') / med('iris bare+ORT c=1'), 1.0),
    ...target('iris bnserve / bare+ORT c=64', med('iris bnserve c=64') / med('iris bare+ORT c=64'), 1.5),
    ...target('mlp batching on / off c=64 (:predict)', med('mlp bnserve c=64') / med('mlp bnserve batching off c=64'), 3),
    ...target('mlp v2 binary / v2 JSON c=64', med('mlp bnserve v2 binary c=64') / med('mlp bnserve v2 JSON c=64'), 2.5),
    ...target('mlp served rows/s (1-row binary) / in-process onnxruntime best', med('mlp bnserve v2 binary c=64') / bestOrt, 0.4),
    ...target('mlp bnserve / bare+ORT c=1', med('mlp bnserve c=1') / med('mlp bare+ORT c=1'), 0.9),
    ...target('idle RSS of `bnserve serve` with the Iris model loaded, MB', servers.get('cliIris')?.idleRssMb ?? Number.NaN, 150, true),
  );
  if (loadAtStart > MAX_LOAD)
    lines.push(
      `  (load average ${loadAtStart.toFixed(2)} at start, after waiting 2 minutes: other work shared the CPUs; ratios are unreliable)`,
    );
  console.log(lines.join('\n'));
}
