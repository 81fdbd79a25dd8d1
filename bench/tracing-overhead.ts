// `npm run bench tracing [--duration 3] [--rounds 3] [--connections 8] [--sampler always_on] [--ratio 1]`: what OpenTelemetry tracing
// costs a server. Two bnserve processes (bench/serve-child.ts) serve the same Iris-sized model: tracing off (the default)
// and on (OTEL_TRACES_EXPORTER=otlp, --sampler always_on by default, http/protobuf to a local collector
// endpoint in this process that answers as a collector does). Rounds alternate (off on, on off, off on …) under
// the same autocannon load of one-row :predict requests; the table shows medians of the rounds:
// requests/s and the server's CPU time per request (µs, every thread of its process), and on/off.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import os from 'node:os';
import { median } from './median.ts';
import { option } from './options.ts';
import { type ServerChild, serverCpuMicroseconds, startServerChild, stopServerChild } from './serve-child.ts';

interface AutocannonResult {
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;

/** A collector's OTLP/HTTP endpoint that only counts: export requests and their bytes. */
async function countingCollector() {
  const received = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => {
      received.bytes += c.length;
    });
    req.on('end', () => {
      received.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

export async function benchTracingOverhead(): Promise<void> {
  const duration = Number(option('duration', '3'));
  const rounds = Number(option('rounds', '3'));
  const connections = Number(option('connections', '8'));
  // always_off: the SDK loaded and every hook in place, but no span recorded or exported.
  const sampler = option('sampler', 'always_on');
  // For the traceidratio samplers: the share of requests recorded.
  const ratio = option('ratio', '1');
  const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
  const collector = await countingCollector();
  // Every OTEL_* setting that matters is given, so none leaks in from this process's environment.
  const servers: Record<'off' | 'on', ServerChild> = {
    off: await startServerChild('bnserve', { OTEL_TRACES_EXPORTER: 'none' }),
    on: await startServerChild('bnserve', {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.endpoint,
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: '',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_TRACES_SAMPLER: sampler,
      OTEL_TRACES_SAMPLER_ARG: ratio,
    }),
  };
  const body = JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] });
  const load = (c: ServerChild, seconds: number) =>
    autocannon({
      url: `${c.url}/v1/models/iris:predict`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      connections,
      duration: seconds,
    });
  const results: Record<'off' | 'on', { rps: number[]; cpu: number[]; bad: number }> = {
    off: { rps: [], cpu: [], bad: 0 },
    on: { rps: [], cpu: [], bad: 0 },
  };
  const loadBefore = os.loadavg();
  try {
    for (const name of ['off', 'on'] as const) await load(servers[name], 1); // warm-up
    for (let round = 0; round < rounds; round++) {
      // Which server goes first alternates too, so that neither always follows the other.
      for (const name of round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) {
        const cpuBefore = (await serverCpuMicroseconds(servers[name], false))!;
        const r = await load(servers[name], duration);
        const cpuAfter = (await serverCpuMicroseconds(servers[name], false))!;
        results[name].rps.push(r.requests.total / duration);
        results[name].cpu.push((cpuAfter - cpuBefore) / r.requests.total);
        results[name].bad += r.non2xx + r.errors;
      }
    }
  } finally {
    await Promise.all([stopServerChild(servers.off.child), stopServerChild(servers.on.child)]);
    await collector.close();
  }
  const loadAfter = os.loadavg();
  const row = (name: 'off' | 'on') => ({ rps: median(results[name].rps), cpu: median(results[name].cpu) });
  const off = row('off');
  const on = row('on');
  console.log(
    `\ntracing overhead: one-row :predict to an Iris-sized model, ${connections} connections, ${rounds} rounds × ${duration} s, interleaved`,
  );
  console.log(
    `cores: ${os.availableParallelism()}, load average (1, 5, 15 min) before: ${loadBefore.map((l) => l.toFixed(2)).join(', ')}, after: ${loadAfter.map((l) => l.toFixed(2)).join(', ')}`,
  );
  console.log('| tracing | requests/s | server CPU µs/request | failed requests |');
  console.log('| --- | ---: | ---: | ---: |');
  console.log(`| off (default) | ${off.rps.toFixed(0)} | ${off.cpu.toFixed(0)} | ${results.off.bad} |`);
  console.log(
    `| on (otlp, ${sampler}${sampler.includes('ratio') ? ` ${ratio}` : ''}, http/protobuf) | ${on.rps.toFixed(0)} | ${on.cpu.toFixed(0)} | ${results.on.bad} |`,
  );
  console.log(
    `on/off: requests/s ×${(on.rps / off.rps).toFixed(2)}, CPU per request ×${(on.cpu / off.cpu).toFixed(2)} (+${(on.cpu - off.cpu).toFixed(0)} µs); ` +
      `collector received ${collector.received.requests} export requests, ${(collector.received.bytes / 1e6).toFixed(1)} MB`,
  );
  console.log(
    `per round, off: rps ${results.off.rps.map((x) => x.toFixed(0)).join(' ')}, µs ${results.off.cpu.map((x) => x.toFixed(0)).join(' ')}`,
  );
  console.log(
    `per round, on:  rps ${results.on.rps.map((x) => x.toFixed(0)).join(' ')}, µs ${results.on.cpu.map((x) => x.toFixed(0)).join(' ')}`,
  );
}
