// `npm run bench serve-ceiling [--duration 3] [--rounds 3]`: bnserve next to its ceilings in one run.
// A bare Fastify 5 echo route (same body) sets the HTTP ceiling; a bare Fastify 5 route that runs
// the model once per request with onnxruntime and nothing else sets the floor of any server that
// runs the model per request; in-process onnxruntime rows/s (both cores, and one) sets the model's own. Scenarios run interleaved (A B C … A B C …); the table shows medians of the rounds.
// Every server runs in its own process, started once; the load generator is autocannon.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { deepMlpOnnx } from '../test/serve/fixtures.ts';
import { ortRowsPerSecond } from './ort-rows.ts';
import { MLP_SIZES, type ServerChild, type ServerKind, serverCpuMicroseconds, startServerChild, stopServerChild } from './serve-child.ts';
import { option } from './options.ts';
import { IRIS_ROW, JSON_HEADERS, MLP_ROW, predictBody, v2BinaryRequest, v2JsonBody } from './request-bodies.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats?: Record<string, { count: number }>;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

type ServerName = 'echo' | 'echo2' | 'bareOrt' | 'on' | 'on2' | 'off' | 'noSpin' | 'delay' | 'instances' | 'tinyQueue';
const SERVERS: Record<ServerName, { kind: ServerKind; env: NodeJS.ProcessEnv; label: string }> = {
  echo: { kind: 'echo', env: {}, label: 'bare Fastify echo' },
  bareOrt: { kind: 'bare-ort', env: {}, label: 'bare Fastify + onnxruntime, one run per request' },
  echo2: { kind: 'echo', env: { BNSERVE_WORKERS: '2' }, label: 'bare Fastify echo, 2 processes (node:cluster)' },
  on2: { kind: 'bnserve', env: { BNSERVE_WORKERS: '2' }, label: 'bnserve defaults, BNSERVE_WORKERS=2' },
  on: { kind: 'bnserve', env: {}, label: 'bnserve defaults (batching on, delay 0)' },
  off: { kind: 'bnserve', env: { BNSERVE_BATCHING: 'off' }, label: 'batching off' },
  noSpin: { kind: 'bnserve', env: { BNSERVE_ORT_SPINNING: 'off' }, label: 'BNSERVE_ORT_SPINNING=off' },
  delay: {
    kind: 'bnserve',
    env: { BNSERVE_MODEL_BATCHING: JSON.stringify({ mlp: { maxQueueDelayMicroseconds: 2000, preferredBatchSizes: [32, 64] } }) },
    label: 'mlp delay 2 ms, preferred 32/64',
  },
  instances: {
    kind: 'bnserve',
    env: { BNSERVE_MODEL_BATCHING: JSON.stringify({ mlp: { instanceCount: 2 } }) },
    label: 'mlp instanceCount 2 (worker threads)',
  },
  tinyQueue: {
    kind: 'bnserve',
    env: { BNSERVE_MODEL_BATCHING: JSON.stringify({ mlp: { maxQueueSize: 2, maxBatchSize: 1 } }) },
    label: 'mlp maxQueueSize 2',
  },
};

interface Scenario {
  id: string;
  server: ServerName;
  path: string;
  body: string | Buffer;
  headers: Record<string, string>;
  connections: number;
  /** Scenario id of the echo row with the same body (ratio denominator). */
  ceiling?: string;
  /** Scenario id of the bare Fastify + onnxruntime row with the same body and load. */
  bare?: string;
  /** Rows per request (1 unless said). */
  rows?: number;
}

interface Row {
  id: string;
  rps: number[];
  /** Server CPU time per request, µs (all its threads). */
  cpuPerRequest: number[];
  p50: number[];
  p99: number[];
  bad: number;
  status503: number;
}

const times = (x: number | null) => (x === null ? '' : `${x.toFixed(2)}×`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function scenarios(): Scenario[] {
  // Small constructors: one request kind each; the rest of a scenario says which server and load.
  type Load = Pick<Scenario, 'id' | 'server'> & Partial<Scenario>;
  const echo = (row: number[], load: Load): Scenario => ({
    path: '/echo',
    body: predictBody(row),
    headers: JSON_HEADERS,
    connections: 64,
    ...load,
  });
  const tfPredict = (model: 'iris' | 'mlp', row: number[], load: Load): Scenario => ({
    path: `/v1/models/${model}:predict`,
    body: predictBody(row),
    headers: JSON_HEADERS,
    connections: 64,
    ...load,
  });
  const v2Json = (model: 'iris' | 'mlp', row: number[], load: Load): Scenario => ({
    path: `/v2/models/${model}/infer`,
    body: v2JsonBody(row),
    headers: JSON_HEADERS,
    connections: 64,
    ...load,
  });
  const v2Binary = (model: 'iris' | 'mlp', row: number[], load: Load, rows = 1): Scenario => ({
    path: `/v2/models/${model}/infer`,
    ...v2BinaryRequest(row, rows),
    connections: 64,
    ...(rows > 1 ? { rows } : {}),
    ...load,
  });
  const iris1 = { connections: 1, ceiling: 'iris echo c=1' };
  const iris64 = { ceiling: 'iris echo c=64' };
  const mlp64 = { ceiling: 'mlp echo c=64', bare: 'mlp bare+ORT c=64' };
  return [
    echo(IRIS_ROW, { id: 'iris echo c=1', server: 'echo', connections: 1 }),
    tfPredict('iris', IRIS_ROW, { id: 'iris bare+ORT c=1', server: 'bareOrt', ...iris1 }),
    tfPredict('iris', IRIS_ROW, { id: 'iris :predict c=1', server: 'on', ...iris1, bare: 'iris bare+ORT c=1' }),
    echo(IRIS_ROW, { id: 'iris echo c=64', server: 'echo' }),
    tfPredict('iris', IRIS_ROW, { id: 'iris bare+ORT c=64', server: 'bareOrt', ...iris64 }),
    tfPredict('iris', IRIS_ROW, { id: 'iris :predict c=64', server: 'on', ...iris64, bare: 'iris bare+ORT c=64' }),
    v2Json('iris', IRIS_ROW, { id: 'iris v2 JSON c=64', server: 'on', ...iris64 }),
    v2Binary('iris', IRIS_ROW, { id: 'iris v2 binary c=64', server: 'on', ...iris64 }),
    echo(IRIS_ROW, { id: 'iris echo c=64 2 proc', server: 'echo2' }),
    tfPredict('iris', IRIS_ROW, { id: 'iris :predict c=64 2 proc', server: 'on2', ...iris64 }),
    echo(MLP_ROW, { id: 'mlp echo c=64', server: 'echo' }),
    tfPredict('mlp', MLP_ROW, { id: 'mlp bare+ORT c=64', server: 'bareOrt', ceiling: 'mlp echo c=64' }),
    tfPredict('mlp', MLP_ROW, { id: 'mlp :predict off c=64', server: 'off', ...mlp64 }),
    tfPredict('mlp', MLP_ROW, { id: 'mlp :predict on c=64', server: 'on', ...mlp64 }),
    tfPredict('mlp', MLP_ROW, { id: 'mlp :predict delay c=64', server: 'delay', ...mlp64 }),
    tfPredict('mlp', MLP_ROW, { id: 'mlp :predict 2 inst c=64', server: 'instances', ...mlp64 }),
    tfPredict('mlp', MLP_ROW, { id: 'mlp :predict on c=64 2 proc', server: 'on2', ...mlp64 }),
    v2Json('mlp', MLP_ROW, { id: 'mlp v2 JSON c=64', server: 'on', ceiling: 'mlp echo c=64' }),
    v2Binary('mlp', MLP_ROW, { id: 'mlp v2 binary c=64', server: 'on', ceiling: 'mlp echo c=64' }),
    tfPredict('mlp', MLP_ROW, { id: 'mlp :predict spin off c=64', server: 'noSpin', ...mlp64 }),
    v2Binary('mlp', MLP_ROW, { id: 'mlp v2 binary spin off c=64', server: 'noSpin' }),
    v2Binary('mlp', MLP_ROW, { id: 'mlp v2 binary off c=64', server: 'off' }),
    v2Binary('mlp', MLP_ROW, { id: 'mlp v2 binary 16 rows c=16', server: 'on', connections: 16 }, 16),
    tfPredict('mlp', MLP_ROW, { id: 'mlp queue 2 c=64 (503s)', server: 'tinyQueue' }),
  ];
}

export async function benchServeCeiling(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const duration = Math.min(30, Math.max(1, Number(option('duration', '3'))));
  const rounds = Math.max(1, Number(option('rounds', '3')));
  const all = scenarios();
  const children = new Map<ServerName, ServerChild>();
  const rows = new Map<string, Row>(
    all.map((s) => [s.id, { id: s.id, rps: [], cpuPerRequest: [], p50: [], p99: [], bad: 0, status503: 0 }]),
  );
  const startedAt = new Date();
  try {
    for (const name of Object.keys(SERVERS) as ServerName[]) {
      children.set(name, await startServerChild(SERVERS[name].kind, SERVERS[name].env));
    }
    for (const s of all) {
      const url = children.get(s.server)!.url + s.path;
      await autocannon({ url, method: 'POST', headers: s.headers, body: s.body, connections: s.connections, duration: 1 }); // warm-up
    }
    for (let round = 0; round < rounds; round++) {
      for (const s of all) {
        const url = children.get(s.server)!.url + s.path;
        const server = children.get(s.server)!;
        const clustered = SERVERS[s.server].env.BNSERVE_WORKERS !== undefined;
        const cpuBefore = await serverCpuMicroseconds(server, clustered);
        const r = await autocannon({ url, method: 'POST', headers: s.headers, body: s.body, connections: s.connections, duration });
        const cpuAfter = await serverCpuMicroseconds(server, clustered);
        const row = rows.get(s.id)!;
        if (cpuBefore !== null && cpuAfter !== null && r.requests.total > 0)
          row.cpuPerRequest.push((cpuAfter - cpuBefore) / r.requests.total);
        row.rps.push(r.requests.average);
        row.p50.push(r.latency.p50);
        row.p99.push(r.latency.p99);
        const s503 = r.statusCodeStats?.['503']?.count ?? 0;
        row.status503 += s503;
        row.bad += r.non2xx - s503 + r.errors + r.timeouts;
      }
      process.stderr.write(`serve-ceiling: round ${round + 1}/${rounds} done\n`);
    }
  } finally {
    for (const c of children.values()) await stopServerChild(c.child);
  }

  const ort = await ortRowsPerSecond(deepMlpOnnx(11, MLP_SIZES), MLP_SIZES[0], [1, 16, 64, 256], 1);
  const bestOrt = ort.reduce((a, b) => (b.rowsPerSecond > a.rowsPerSecond ? b : a));
  // One intra-op thread: what the model gets from one core, while the load generator holds the other.
  const ortOneThread = await ortRowsPerSecond(deepMlpOnnx(11, MLP_SIZES), MLP_SIZES[0], [64], 1, { intraOpNumThreads: 1 });

  const med = (id: string) => median(rows.get(id)!.rps);
  const table = all.map((s) => {
    const r = rows.get(s.id)!;
    return {
      scenario: s.id,
      server: SERVERS[s.server].label,
      rps: med(s.id),
      rowsPerSecond: med(s.id) * (s.rows ?? 1),
      serverCpuMicrosecondsPerRequest: r.cpuPerRequest.length > 0 ? median(r.cpuPerRequest) : null,
      p50: median(r.p50),
      p99: median(r.p99),
      vsEcho: s.ceiling ? med(s.id) / med(s.ceiling) : null,
      vsBareOrt: s.bare ? med(s.id) / med(s.bare) : null,
      status503: r.status503,
      otherFailures: r.bad,
    };
  });
  const cpu = os.cpus();
  const machine = `${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, Node ${process.version}, load average ${os
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ')}`;
  const lines = [
    `serve-ceiling: 1-row requests unless said, ${rounds} interleaved rounds × ${duration} s, medians; ${machine}`,
    '| scenario | req/s | rows/s | server CPU µs/req | p50 ms | p99 ms | × echo (same body) | × bare+ORT | 503 | other failures |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...table.map(
      (t) =>
        `| ${t.scenario} | ${t.rps.toFixed(0)} | ${t.rowsPerSecond.toFixed(0)} | ${t.serverCpuMicrosecondsPerRequest?.toFixed(0) ?? ''} | ${t.p50.toFixed(2)} | ${t.p99.toFixed(2)} | ${times(t.vsEcho)} | ${times(t.vsBareOrt)} | ${t.status503} | ${t.otherFailures} |`,
    ),
  ];
  const ratio = (a: string, b: string) => med(a) / med(b);
  const ratios = {
    'iris :predict / echo c=1 (target ≥ 0.75)': ratio('iris :predict c=1', 'iris echo c=1'),
    'iris :predict / echo c=64 (target ≥ 1.0)': ratio('iris :predict c=64', 'iris echo c=64'),
    'mlp batching on / off c=64 (target ≥ 3)': ratio('mlp :predict on c=64', 'mlp :predict off c=64'),
    'mlp p99 on / off (target ≤ 1)': median(rows.get('mlp :predict on c=64')!.p99) / median(rows.get('mlp :predict off c=64')!.p99),
    'mlp batching on / off c=64, binary v2 (no JSON parsing in the way)': ratio('mlp v2 binary c=64', 'mlp v2 binary off c=64'),
    'mlp p99 on / off, binary v2': median(rows.get('mlp v2 binary c=64')!.p99) / median(rows.get('mlp v2 binary off c=64')!.p99),
    'mlp :predict / echo c=64 (target ≥ 1.0)': ratio('mlp :predict on c=64', 'mlp echo c=64'),
    'mlp v2 binary / v2 JSON c=64 (target ≥ 3)': ratio('mlp v2 binary c=64', 'mlp v2 JSON c=64'),
    'iris :predict BNSERVE_WORKERS=2 / 1 process c=64 (kept if > 1)': ratio('iris :predict c=64 2 proc', 'iris :predict c=64'),
    'iris :predict BNSERVE_WORKERS=2 / echo 2 processes c=64': ratio('iris :predict c=64 2 proc', 'iris echo c=64 2 proc'),
    'mlp :predict BNSERVE_WORKERS=2 / 1 process c=64 (kept if > 1)': ratio('mlp :predict on c=64 2 proc', 'mlp :predict on c=64'),
    'mlp :predict BNSERVE_ORT_SPINNING=off / on c=64': ratio('mlp :predict spin off c=64', 'mlp :predict on c=64'),
    'mlp v2 binary BNSERVE_ORT_SPINNING=off / on c=64': ratio('mlp v2 binary spin off c=64', 'mlp v2 binary c=64'),
    'mlp best served rows/s, 1-row requests / onnxruntime best (target ≥ 0.40)':
      Math.max(
        ...[
          'mlp :predict on c=64',
          'mlp :predict delay c=64',
          'mlp :predict 2 inst c=64',
          'mlp :predict on c=64 2 proc',
          'mlp v2 binary c=64',
          'mlp v2 binary spin off c=64',
        ].map(med),
      ) / bestOrt.rowsPerSecond,
    'mlp served rows/s, 16-row binary requests / onnxruntime best': (med('mlp v2 binary 16 rows c=16') * 16) / bestOrt.rowsPerSecond,
    'iris :predict / bare Fastify + onnxruntime c=1': ratio('iris :predict c=1', 'iris bare+ORT c=1'),
    'iris :predict / bare Fastify + onnxruntime c=64': ratio('iris :predict c=64', 'iris bare+ORT c=64'),
    'iris bare Fastify + onnxruntime / echo c=1 (no server that runs the model per request does better)': ratio(
      'iris bare+ORT c=1',
      'iris echo c=1',
    ),
    'mlp :predict / bare Fastify + onnxruntime c=64': ratio('mlp :predict on c=64', 'mlp bare+ORT c=64'),
  };
  lines.push(
    '',
    `in-process onnxruntime, ${MLP_SIZES.join('-')} MLP: ${ort.map((o) => `batch ${o.batch} ${o.rowsPerSecond.toFixed(0)} rows/s`).join(', ')}; one intra-op thread, batch 64: ${ortOneThread[0].rowsPerSecond.toFixed(0)} rows/s`,
  );
  lines.push('', 'targets:');
  for (const [k, v] of Object.entries(ratios)) lines.push(`  ${k}: ${v.toFixed(2)}`);
  console.log(lines.join('\n'));
  const out = fileURLToPath(new URL('./results.json', import.meta.url));
  writeFileSync(
    out,
    `${JSON.stringify({ startedAt, machine, duration, rounds, table, onnxruntime: ort, onnxruntimeOneThread: ortOneThread, ratios, raw: [...rows.values()] }, null, 2)}\n`,
  );
  console.log(`written to ${out}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await benchServeCeiling();
}
