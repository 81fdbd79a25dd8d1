// gRPC throughput on a local bnserve: ModelStreamInfer against unary ModelInfer, Triton's client's way
// (raw_input_contents, one row per request), on the Iris-sized MLP (4 → 64 → 3) that serve-load.ts uses,
// or another shape (`--shape 784,1024,10`: one 784-float row per request into a 1024-unit hidden layer).
// The server runs in a child process so that the client and the server do not share one event loop.
// Run: node --import tsx bench/grpc-stream.ts [--n 20000] [--concurrency 1,16,64] [--streams 1,4] [--shape 4,64,3]
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { InferenceClient } from '../faults/harness/grpc-client.ts';
import { option } from './options.ts';

/** inputs, hidden units, outputs of the served MLP (the child reads the same option). */
const SHAPE = option('shape', '4,64,3').split(',').map(Number) as [number, number, number];
const ROW = SHAPE[0] === 4 ? new Float32Array([5.1, 3.5, 1.4, 0.2]) : Float32Array.from({ length: SHAPE[0] }, (_, i) => Math.sin(i));

async function childServer(): Promise<void> {
  const { startServer } = await import('../src/serve/index.ts');
  const { FakeRegistry } = await import('../test/serve/fake-registry.ts');
  const { randomMlp, versionInput } = await import('../test/serve/fixtures.ts');
  const registry = new FakeRegistry();
  const input = versionInput('iris', randomMlp(7, ...SHAPE), 'classification');
  // The fixture's feature and class names are Iris's: other shapes go without names.
  const iris = SHAPE[0] === 4 && SHAPE[2] === 3;
  await registry.registerVersion({ ...input, featureNames: iris ? input.featureNames : [], classLabels: iris ? input.classLabels : [] });
  const server = await startServer({ registry, host: '127.0.0.1', port: 0, grpcPort: 0, logger: false, refreshIntervalMs: 0 });
  process.stdout.write(`${server.grpcAddress}\n`);
  process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
}

function startChild(): Promise<{ child: ChildProcess; address: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--shape', SHAPE.join(',')], {
    env: { ...process.env, BNSERVE_EXECUTION_PROVIDERS: 'cpu' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (address) => resolve({ child, address: address.trim() }));
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening`)));
  });
}

const request = (id: string) => ({
  model_name: 'iris',
  id,
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, SHAPE[0]] }],
  raw_input_contents: [Buffer.from(ROW.buffer)],
});

type Unary = (req: object, cb: (err: grpc.ServiceError | null) => void) => void;

/** n unary ModelInfer calls, `concurrency` outstanding at a time on one channel. */
async function unary(client: grpc.Client, n: number, concurrency: number): Promise<number> {
  const infer = (client as unknown as { ModelInfer: Unary }).ModelInfer.bind(client);
  let next = 0;
  let failed = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await new Promise<void>((resolve) =>
        infer(request(`u${i}`), (err) => {
          if (err) failed++;
          resolve();
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failed;
}

/** n requests over `streams` ModelStreamInfer calls, each written as fast as flow control allows. */
async function streamed(client: grpc.Client, n: number, streams: number): Promise<number> {
  let failed = 0;
  const one = (count: number, s: number) =>
    new Promise<void>((resolve, reject) => {
      const stream = (
        client as unknown as { ModelStreamInfer(): grpc.ClientDuplexStream<object, { error_message: string }> }
      ).ModelStreamInfer();
      stream.on('data', (a) => {
        if (a.error_message) failed++;
      });
      stream.on('status', (st: grpc.StatusObject) => (st.code === grpc.status.OK ? resolve() : reject(new Error(st.details))));
      stream.on('error', () => {});
      void (async () => {
        for (let i = 0; i < count; i++) {
          if (!stream.write(request(`s${s}.${i}`))) await new Promise((r) => stream.once('drain', r));
        }
        stream.end();
      })();
    });
  await Promise.all(Array.from({ length: streams }, (_, s) => one(Math.floor(n / streams), s)));
  return failed;
}

/** CPU seconds a process has used (Linux: utime + stime from /proc, in clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function measure(name: string, run: () => Promise<number>, n: number, serverPid: number) {
  const cpuBefore = cpuSeconds(serverPid);
  const started = performance.now();
  const failed = await run();
  const seconds = (performance.now() - started) / 1000;
  const serverCpuUs = ((cpuSeconds(serverPid) - cpuBefore) / n) * 1e6;
  return { scenario: name, n, 'req/s': Math.round(n / seconds), 'server CPU µs/req': Math.round(serverCpuUs), failed };
}

export async function benchGrpcStream(): Promise<void> {
  const n = Number(option('n', '20000'));
  const concurrency = option('concurrency', '1,16,64').split(',').map(Number);
  const streamCounts = option('streams', '1,4').split(',').map(Number);
  const { child, address } = await startChild();
  const client = new InferenceClient(address, grpc.credentials.createInsecure());
  try {
    await unary(client, 2000, 16); // warm-up
    await streamed(client, 2000, 1);
    const rows = [];
    for (const c of concurrency) rows.push(await measure(`unary ModelInfer, ${c} in flight`, () => unary(client, n, c), n, child.pid!));
    for (const s of streamCounts) rows.push(await measure(`ModelStreamInfer, ${s} stream(s)`, () => streamed(client, n, s), n, child.pid!));
    console.table(rows);
    console.log(
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')} on ${cpus().length} CPUs`,
    );
  } finally {
    client.close();
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

if (process.argv.includes('--child')) await childServer();
else if (process.argv[1] === fileURLToPath(import.meta.url)) await benchGrpcStream();
