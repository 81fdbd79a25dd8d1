// The server as users run it: `bnserve serve` from dist/ (bin/bnserve.js) as a child process, on a
// real SQLite registry that `bnserve train` (Iris, examples/iris-bn.json) and `bnserve import` (the
// 784-1024-1024-10 MLP) filled, its log at the default level going to a file, gRPC on, its
// defaults otherwise. CPU time and RSS are read from /proc, so they count every thread of the process.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { deepMlpOnnx } from '../test/serve/fixtures.ts';
import { MLP_SIZES } from './serve-child.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'bnserve.js');

export interface CliRegistry {
  dir: string;
  env: NodeJS.ProcessEnv;
  /** The ONNX file the registry serves for each model (what the bare route loads too). */
  artifacts: { iris: string; mlp: string | null };
}

function bnserve(args: string[], env: NodeJS.ProcessEnv): string {
  const run = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`bnserve ${args.join(' ')} exited with ${run.status}:\n${run.stderr}`);
  return run.stdout;
}

function artifactPath(name: string, env: NodeJS.ProcessEnv): string {
  const shown = JSON.parse(bnserve(['models', 'show', name, '--json'], env)) as { versions: { artifactPath: string }[] };
  const file = shown.versions.at(-1)?.artifactPath;
  if (!file) throw new Error(`bnserve models show ${name}: no version`);
  return file;
}

/** A temp registry holding the trained Iris model and (unless irisOnly) the imported MLP, filled through the CLI. */
export function prepareCliRegistry(irisOnly = false): CliRegistry {
  const dir = mkdtempSync(path.join(tmpdir(), 'bnserve-bench-cli-'));
  const env = { DATABASE_URL: `file:${path.join(dir, 'registry.db')}`, BNSERVE_ARTIFACTS: path.join(dir, 'artifacts') };
  bnserve(['train', '--config', path.join(ROOT, 'examples', 'iris-bn.json'), '--json'], env);
  if (irisOnly) return { dir, env, artifacts: { iris: artifactPath('iris', env), mlp: null } };
  const mlpFile = path.join(dir, 'mlp.onnx');
  writeFileSync(mlpFile, deepMlpOnnx(11, MLP_SIZES));
  bnserve(['import', mlpFile, '--name', 'mlp', '--json'], env);
  return { dir, env, artifacts: { iris: artifactPath('iris', env), mlp: artifactPath('mlp', env) } };
}

export interface CliServer {
  child: ChildProcess;
  url: string;
  log: string;
}

async function waitFor<T>(what: string, probe: () => Promise<T | null> | T | null, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const found = await probe();
    if (found !== null) return found;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts `bnserve serve` on a free port; resolves once /v2/health/ready answers 200. */
export async function startCliServer(
  registry: CliRegistry,
  label: string,
  env: NodeJS.ProcessEnv = {},
  execArgv: string[] = [],
): Promise<CliServer> {
  const log = path.join(registry.dir, `${label}.log`);
  const out = openSync(log, 'w');
  const child = spawn(process.execPath, [...execArgv, BIN, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...registry.env, HOST: '127.0.0.1', PORT: '0', ...env },
    stdio: ['ignore', out, out],
  });
  closeSync(out);
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? -1;
  });
  const url = await waitFor(`${label} to listen (log: ${log})`, () => {
    if (exited !== null) throw new Error(`${label} exited with ${exited} before listening; log: ${log}`);
    const m = existsSync(log) ? /bnserve listening on (http:\/\/[\d.:]+)/.exec(readFileSync(log, 'utf8')) : null;
    return m ? m[1] : null;
  });
  await waitFor(`${label} to be ready`, async () => ((await fetch(`${url}/v2/health/ready`)).ok ? true : null));
  return { child, url, log };
}

export async function stopCliServer(server: CliServer): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

/** utime + stime of a /proc stat file, µs. */
function statCpuMicroseconds(file: string): number {
  const stat = readFileSync(file, 'utf8');
  // Fields after the command name (which may hold spaces) start at state; utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / 100; // USER_HZ is 100 on Linux
}

/** CPU time (user + system, every thread) a process has used, µs, from /proc/<pid>/stat. */
export function processCpuMicroseconds(pid: number): number {
  return statCpuMicroseconds(`/proc/${pid}/stat`);
}

/**
 * CPU time of a process's main thread (the event loop), µs: the rest of processCpuMicroseconds is
 * onnxruntime's pool threads and V8's helpers (garbage collection, compilation).
 */
export function mainThreadCpuMicroseconds(pid: number): number {
  return statCpuMicroseconds(`/proc/${pid}/task/${pid}/stat`);
}

/** Resident set size of a process, MB, from /proc/<pid>/status. */
export function processRssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) / 1024;
}
