// HTTP load on a local bnserve (loopback only, bounded duration): req/s and latency for :predict and
// v2 infer, with micro-batching on and off, at 1 and 64 connections. The server runs in a child
// process so that autocannon and the server do not share one event loop.
// Run: node --import tsx bench/serve-load.ts [--duration 5] [--connections 1,64]
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { option } from './options.ts';

interface AutocannonResult {
  requests: { average: number };
  latency: { p50: number; p99: number; average: number };
  non2xx: number;
  errors: number;
  timeouts: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

const ROW = [5.1, 3.5, 1.4, 0.2];

async function childServer(): Promise<void> {
  const { startServer } = await import('../src/serve/index.ts');
  const { FakeRegistry } = await import('../test/serve/fake-registry.ts');
  const { randomMlp, versionInput } = await import('../test/serve/fixtures.ts');
  const registry = new FakeRegistry();
  // Iris-sized network as the trainer exports it: 4 → 64 → 3, standardisation inside the graph.
  await registry.registerVersion(versionInput('iris', randomMlp(7, 4, 64, 3), 'classification'));
  const server = await startServer({ registry, host: '127.0.0.1', port: 0, logger: false, refreshIntervalMs: 0 });
  process.stdout.write(`${server.url}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

function startChild(batching: boolean): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child'], {
    env: { ...process.env, BNSERVE_BATCHING: batching ? 'on' : 'off', BNSERVE_EXECUTION_PROVIDERS: 'cpu' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (url) => resolve({ child, url: url.trim() }));
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export async function benchServeLoad(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const duration = Math.min(60, Math.max(1, Number(option('duration', '5'))));
  const connectionCounts = option('connections', '1,64').split(',').map(Number);
  const predictBody = JSON.stringify({ instances: [ROW] });
  const inferBody = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: ROW }] });
  const rows: { scenario: string; rps: number; p50: number; p99: number; bad: number }[] = [];

  for (const batching of [true, false]) {
    const { child, url } = await startChild(batching);
    try {
      const scenarios = [
        ...connectionCounts.map((c) => ({ name: `:predict  c=${c}`, path: '/v1/models/iris:predict', body: predictBody, connections: c })),
        ...(batching
          ? [
              {
                name: `v2 infer  c=${Math.max(...connectionCounts)}`,
                path: '/v2/models/iris/infer',
                body: inferBody,
                connections: Math.max(...connectionCounts),
              },
            ]
          : []),
      ];
      for (const s of scenarios) {
        await autocannon({
          url: url + s.path,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: s.body,
          connections: s.connections,
          duration: 1,
        }); // warm-up
        const r = await autocannon({
          url: url + s.path,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: s.body,
          connections: s.connections,
          duration,
        });
        rows.push({
          scenario: `${s.name}  batching ${batching ? 'on ' : 'off'}`,
          rps: r.requests.average,
          p50: r.latency.p50,
          p99: r.latency.p99,
          bad: r.non2xx + r.errors + r.timeouts,
        });
      }
    } finally {
      await stopChild(child);
    }
  }

  console.log(`serve-load: 1-row requests, ${duration} s each, Node ${process.version}, ${(await import('node:os')).cpus().length} CPUs`);
  console.log('scenario                              req/s    p50 ms   p99 ms   failed');
  for (const r of rows) {
    console.log(
      `${r.scenario.padEnd(36)} ${r.rps.toFixed(0).padStart(7)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.bad).padStart(8)}`,
    );
  }
  const maxC = Math.max(...connectionCounts);
  const on = rows.find((r) => r.scenario.includes(`c=${maxC}`) && r.scenario.startsWith(':predict') && r.scenario.endsWith('on '))?.rps;
  const off = rows.find((r) => r.scenario.includes(`c=${maxC}`) && r.scenario.startsWith(':predict') && r.scenario.endsWith('off'))?.rps;
  if (on && off) console.log(`batching on/off at c=${maxC}: ${(on / off).toFixed(2)}×`);
}

if (process.argv.includes('--child')) {
  await childServer();
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await benchServeLoad();
}
