// Real `bnserve` processes for the fault suite: spawned with `node bin/bnserve.js …`, their output
// kept for diagnostics, every one tracked so that the runner can kill what a scenario left behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '..', '..');
export const BNSERVE = path.join(ROOT, 'bin', 'bnserve.js');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Spawned {
  child: ChildProcess;
  pid: number;
  exited: Promise<Exit>;
  output(): string;
  stdout(): string;
  stderr(): string;
}

const live = new Set<ChildProcess>();

/** Kills (SIGKILL) every process the suite started that is still running. */
export function killAll(): void {
  for (const child of live) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  live.clear();
}

export function spawnProcess(command: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Spawned {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  let stdout = '';
  let stderr = '';
  let both = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
    both += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
    both += d;
  });
  const exited = new Promise<Exit>((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null }));
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
  });
  return { child, pid: child.pid ?? -1, exited, output: () => both, stdout: () => stdout, stderr: () => stderr };
}

/** `node bin/bnserve.js args…` with the given environment added to ours. */
export function spawnBnserve(args: string[], env: Record<string, string>, cwd = ROOT): Spawned {
  return spawnProcess(process.execPath, [BNSERVE, ...args], { ...process.env, ...env }, cwd);
}

export interface CliOutcome extends Exit {
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a bnserve command to completion, killed after timeoutMs. */
export async function runBnserve(args: string[], env: Record<string, string>, timeoutMs = 120_000, cwd = ROOT): Promise<CliOutcome> {
  const started = performance.now();
  const p = spawnBnserve(args, env, cwd);
  const timer = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  const exit = await p.exited;
  clearTimeout(timer);
  return { ...exit, stdout: p.stdout(), stderr: p.stderr(), ms: performance.now() - started };
}

/** Last JSON object a `--json` command printed. */
export function lastJson<T>(stdout: string): T {
  const line = stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line) as T;
}

/** Resident set size of a process in KiB (VmRSS from /proc), or null once it is gone. */
export function rssKb(pid: number): number | null {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `everyMs` until it returns true or `timeoutMs` passes; returns the ms it took, or null. */
export async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, everyMs = 200): Promise<number | null> {
  const started = Date.now();
  while (Date.now() - started <= timeoutMs) {
    if (await probe().catch(() => false)) return Date.now() - started;
    await sleep(everyMs);
  }
  return null;
}
