// The servers the HTTP benchmarks load, each in its own process (so autocannon and the server do
// not share an event loop): `bnserve` as `bnserve serve` starts it (default logger at info, to
// stdout, which the parent discards) with an Iris-sized model and the 784-1024-BN-1024-BN-10 MLP;
// `echo`, a bare Fastify 5 route that parses the JSON body and sends it back (the HTTP ceiling); or
// `bare-ort`, a bare Fastify 5 route that runs the same models once per request with onnxruntime
// and nothing else (no validation, batching, metrics or logs: the least any server that runs the
// model per request pays).
// The parent reads the URL from the IPC channel.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MLP_SIZES = [784, 1024, 1024, 10] as const;

async function bnserveChild(): Promise<string> {
  const { startTracing } = await import('../src/tracing/tracing.ts');
  const { startServer } = await import('../src/serve/index.ts');
  const { FakeRegistry } = await import('../test/serve/fake-registry.ts');
  const { randomMlp, versionInput, deepMlpVersionInput } = await import('../test/serve/fixtures.ts');
  const registry = new FakeRegistry();
  // Iris-sized network as the trainer exports it: 4 → 64 → 3, standardisation inside the graph.
  await registry.registerVersion(versionInput('iris', randomMlp(7, 4, 64, 3), 'classification'));
  await registry.registerVersion(deepMlpVersionInput('mlp', 11, MLP_SIZES));
  // Tracing as the OTEL_* environment says, as `bnserve serve` starts it (unset: off, nothing loaded).
  const tracing = await startTracing(process.env);
  const server = await startServer({ registry, host: '127.0.0.1', port: 0, refreshIntervalMs: 0 });
  process.once('SIGTERM', () => void server.close().then(() => tracing.shutdown().then(() => process.exit(0))));
  return server.url;
}

async function echoChild(): Promise<string> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  app.post('/echo', async (request) => request.body);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

async function bareOrtChild(): Promise<string> {
  const { default: Fastify } = await import('fastify');
  const ort = await import('onnxruntime-node');
  const { randomMlp, mlpOnnx, deepMlpOnnx } = await import('../test/serve/fixtures.ts');
  const { readFileSync } = await import('node:fs');
  // BENCH_ONNX_IRIS / BENCH_ONNX_MLP: the same files a real registry serves (bench/serve-cli.ts).
  const file = (name: string | undefined, fallback: () => Uint8Array) => (name ? readFileSync(name) : fallback());
  const models = {
    iris: await ort.InferenceSession.create(
      file(process.env.BENCH_ONNX_IRIS, () => mlpOnnx(randomMlp(7, 4, 64, 3), 'classification')),
      { executionProviders: ['cpu'] },
    ),
    mlp: await ort.InferenceSession.create(
      file(process.env.BENCH_ONNX_MLP, () => deepMlpOnnx(11, MLP_SIZES)),
      { executionProviders: ['cpu'] },
    ),
  };
  const app = Fastify();
  app.post('/v1/models/:model', async (request) => {
    const session = models[(request.params as { model: string }).model.replace(/:predict$/, '') as keyof typeof models];
    const rows = (request.body as { instances: number[][] }).instances;
    const width = rows[0].length;
    const data = new Float32Array(rows.length * width);
    for (let r = 0; r < rows.length; r++) data.set(rows[r], r * width);
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, [rows.length, width]) });
    const probabilities = out[session.outputNames[0]].data as Float32Array;
    const classes = probabilities.length / rows.length;
    return { predictions: rows.map((_, r) => Array.from(probabilities.subarray(r * classes, (r + 1) * classes))) };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
  return `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

export interface ServerChild {
  child: ChildProcess;
  url: string;
}

export type ServerKind = 'bnserve' | 'echo' | 'bare-ort';

/** Starts a server process; env is added to the parent's; execArgv e.g. ['--cpu-prof']. */
export function startServerChild(kind: ServerKind, env: NodeJS.ProcessEnv = {}, execArgv: string[] = []): Promise<ServerChild> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve-child', kind], {
    env: { ...process.env, BNSERVE_EXECUTION_PROVIDERS: 'cpu', ...env },
    execArgv: ['--import', 'tsx', ...execArgv],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (url) => resolve({ child, url: String(url) }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited with ${code} before listening`)));
  });
}

export async function stopServerChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** CPU profile of the server process between two calls, taken with node:inspector (no start-up noise). */
async function profilerControl(): Promise<void> {
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  process.on('message', (msg: { cmd?: string; file?: string }) => {
    if (msg.cmd === 'profile-start') void session.post('Profiler.start').then(() => process.send?.('profiling'));
    if (msg.cmd === 'profile-stop' && msg.file) {
      void session.post('Profiler.stop').then(async ({ profile }) => {
        const { writeFileSync } = await import('node:fs');
        writeFileSync(msg.file!, JSON.stringify(profile));
        process.send?.('profiled');
      });
    }
  });
}

/** In a server child: answers 'cpu-usage' with the CPU time this process has used (µs, user + system, every thread). */
function cpuUsageControl(): void {
  process.on('message', (msg) => {
    if (msg !== 'cpu-usage') return;
    const { user, system } = process.cpuUsage();
    process.send?.({ cpuMicroseconds: user + system });
  });
}

/**
 * CPU time the server process has used so far, µs (onnxruntime's threads included), or null for
 * a node:cluster server, whose work is spread over worker processes.
 */
export function serverCpuMicroseconds(server: ServerChild, clustered: boolean): Promise<number | null> {
  if (clustered) return Promise.resolve(null);
  return new Promise((resolve) => {
    const on = (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'cpuMicroseconds' in m) {
        server.child.off('message', on);
        resolve((m as { cpuMicroseconds: number }).cpuMicroseconds);
      }
    };
    server.child.on('message', on);
    server.child.send('cpu-usage');
  });
}

/** Asks a child started with BNSERVE_BENCH_PROFILE=1 to profile while fn runs; writes the .cpuprofile to file. */
export async function profileWhile<T>(child: ChildProcess, file: string, fn: () => Promise<T>): Promise<T> {
  const reply = (want: string) =>
    new Promise<void>((r) =>
      child.on('message', function on(m) {
        if (m === want) {
          child.off('message', on);
          r();
        }
      }),
    );
  const started = reply('profiling');
  child.send({ cmd: 'profile-start' });
  await started;
  const result = await fn();
  const stopped = reply('profiled');
  child.send({ cmd: 'profile-stop', file });
  await stopped;
  return result;
}

/**
 * BNSERVE_WORKERS=N (N > 1): the same server in N node:cluster processes on one port, as
 * `bnserve serve` runs them; this process only forks them, passes on the URL and stops them.
 */
async function clusterPrimary(workers: number): Promise<string> {
  const { default: cluster } = await import('node:cluster');
  const urls: Promise<string>[] = [];
  for (let w = 0; w < workers; w++) {
    const worker = cluster.fork();
    urls.push(new Promise((resolve) => worker.once('message', (url) => resolve(String(url)))));
  }
  process.once('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    });
  });
  const [url] = await Promise.all(urls);
  return url;
}

const i = process.argv.indexOf('--serve-child');
if (i >= 0) {
  const { default: cluster } = await import('node:cluster');
  const workers = Number(process.env.BNSERVE_WORKERS ?? 1);
  const url =
    cluster.isPrimary && workers > 1
      ? await clusterPrimary(workers)
      : process.argv[i + 1] === 'echo'
        ? await echoChild()
        : process.argv[i + 1] === 'bare-ort'
          ? await bareOrtChild()
          : await bnserveChild();
  if (process.env.BNSERVE_BENCH_PROFILE === '1') await profilerControl();
  cpuUsageControl();
  process.send?.(url);
}
