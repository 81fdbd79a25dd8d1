import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
/** A child that hangs is killed so that the test fails instead of hanging the whole run. */
const CHILD_LIFETIME_MS = 60_000;

export interface Child {
  process: ChildProcessWithoutNullStreams;
  /** Resolves with the next JSON line printed on stdout (rejects if the child exits first). */
  nextLine(): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name) and everything written on stderr. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

export function spawnChild(args: string[]): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const watchdog = setTimeout(() => child.kill('SIGKILL'), CHILD_LIFETIME_MS);
  watchdog.unref();
  child.on('close', () => clearTimeout(watchdog));
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const queue: string[] = [];
  const waiters: Array<(line: string | null) => void> = [];
  let closed = false;
  createInterface({ input: child.stdout })
    .on('line', (line) => (waiters.length > 0 ? waiters.shift()!(line) : queue.push(line)))
    .on('close', () => {
      closed = true;
      while (waiters.length > 0) waiters.shift()!(null);
    });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stderr })),
  );
  return {
    process: child,
    exited,
    async nextLine() {
      const line = queue.length > 0 ? queue.shift()! : closed ? null : await new Promise<string | null>((r) => waiters.push(r));
      if (line === null) {
        const { code, signal } = await exited;
        throw new Error(`child ${args[0]} exited (${code ?? signal}) before printing a line:\n${stderr}`);
      }
      return JSON.parse(line) as Record<string, unknown>;
    },
  };
}
