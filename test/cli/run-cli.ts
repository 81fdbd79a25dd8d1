import { spawn } from 'node:child_process';
import path from 'node:path';

export const ROOT = path.resolve(import.meta.dirname, '../..');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bnserve …` as a user would, in a separate process. */
export function runCli(args: string[], env: Record<string, string> = {}, cwd = ROOT): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/bnserve.js'), ...args], {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Environment pointing bnserve at a registry (SQLite) and artifact store inside `dir`. */
export function registryEnv(dir: string): { DATABASE_URL: string; BNSERVE_ARTIFACTS: string } {
  return { DATABASE_URL: `file:${path.join(dir, 'registry.db')}`, BNSERVE_ARTIFACTS: path.join(dir, 'artifacts') };
}
