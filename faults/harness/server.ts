// `bnserve serve` as a real process on a free loopback port, against a given registry and store.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Exit, freePort, ROOT, rssKb, sleep, spawnBnserve, type Spawned, waitUntil } from './processes.ts';
import { request } from './http.ts';

/** Test-only code preloaded into the server: the memory probe (always), a deliberate leak (on request). */
const fixture = (name: string) => pathToFileURL(path.join(ROOT, 'faults', 'fixtures', name)).href;
const MEMORY_PROBE = fixture('memory-probe.mjs');
const INJECTED_LEAK = fixture('leak-per-request.mjs');

/** process.memoryUsage() of the server after two forced full garbage collections. */
export interface MemoryAfterGc {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}

export const ADMIN_TOKEN = 'fault-suite-admin-token';

export interface RegistryLocation {
  databaseUrl: string;
  artifacts: string;
}

export function registryEnvOf(location: RegistryLocation): Record<string, string> {
  return { DATABASE_URL: location.databaseUrl, BNSERVE_ARTIFACTS: location.artifacts };
}

export class ServerProcess {
  private constructor(
    readonly proc: Spawned,
    readonly url: string,
    /** host:port of its gRPC server. */
    readonly grpcAddress: string,
    private readonly memoryFile: string,
  ) {}

  get pid(): number {
    return this.proc.pid;
  }

  /** Starts `bnserve serve` and waits until /v2/health/ready answers 200 (or, with requireReady false, until it listens). */
  static async start(
    location: RegistryLocation,
    opts: { env?: Record<string, string>; requireReady?: boolean; timeoutMs?: number; injectLeak?: boolean } = {},
  ): Promise<ServerProcess> {
    const port = await freePort();
    // Its own gRPC port too: the default 8081 would make two servers of one scenario collide.
    const grpcPort = await freePort();
    const memoryFile = path.join(os.tmpdir(), `bnserve-faults-memory-${process.pid}-${port}.json`);
    const preload = [MEMORY_PROBE, ...(opts.injectLeak ? [INJECTED_LEAK] : [])].map((url) => `--import=${url}`).join(' ');
    const proc = spawnBnserve(['serve', '--host', '127.0.0.1', '--port', String(port)], {
      ...registryEnvOf(location),
      BNSERVE_ADMIN_TOKEN: ADMIN_TOKEN,
      BNSERVE_REFRESH_MS: '250',
      BNSERVE_EXECUTION_PROVIDERS: 'cpu',
      BNSERVE_LOG_LEVEL: 'warn',
      BNSERVE_GRPC_PORT: String(grpcPort),
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} ${preload}`.trim(),
      FAULTS_MEMORY_FILE: memoryFile,
      ...opts.env,
    });
    const server = new ServerProcess(proc, `http://127.0.0.1:${port}`, `127.0.0.1:${opts.env?.BNSERVE_GRPC_PORT ?? grpcPort}`, memoryFile);
    const requireReady = opts.requireReady ?? true;
    const probePath = requireReady ? '/v2/health/ready' : '/v2/health/live';
    const took = await waitUntil(
      async () => {
        if (proc.child.exitCode !== null) return true;
        return (await request(server.url, { path: probePath }, { timeoutMs: 2000 })).status === 200;
      },
      opts.timeoutMs ?? 60_000,
      150,
    );
    if (proc.child.exitCode !== null || took === null) {
      await server.kill();
      throw new Error(`bnserve serve did not become ${requireReady ? 'ready' : 'live'}:\n${proc.output().slice(-2000)}`);
    }
    return server;
  }

  rssKb(): number | null {
    return rssKb(this.pid);
  }

  /** Asks the server's memory probe for two full collections and its memory after them (null if it did not answer in 10 s). */
  async memoryAfterGc(): Promise<MemoryAfterGc | null> {
    rmSync(this.memoryFile, { force: true });
    if (!this.alive()) return null;
    this.proc.child.kill('SIGUSR2');
    const took = await waitUntil(async () => existsSync(this.memoryFile), 10_000, 50);
    if (took === null) return null;
    return JSON.parse(readFileSync(this.memoryFile, 'utf8')) as MemoryAfterGc;
  }

  alive(): boolean {
    return this.proc.child.exitCode === null && this.proc.child.signalCode === null;
  }

  async status(path: string): Promise<number> {
    try {
      return (await request(this.url, { path }, { timeoutMs: 5000 })).status;
    } catch {
      return 0;
    }
  }

  async ready(): Promise<number> {
    return this.status('/v2/health/ready');
  }

  /** Admin promote route; resolves to the HTTP status (0 when there was no answer). */
  async promote(model: string, version: number, alias = 'production', timeoutMs = 30_000): Promise<{ status: number; body: string }> {
    try {
      const answer = await request(
        this.url,
        {
          method: 'POST',
          path: `/admin/models/${model}/promote`,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
          body: JSON.stringify({ version, alias }),
        },
        { timeoutMs },
      );
      return { status: answer.status, body: answer.body };
    } catch (err) {
      return { status: 0, body: String((err as Error).message) };
    }
  }

  /** Sends a signal and waits (bounded) for the exit; SIGKILL after timeoutMs. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 20_000): Promise<Exit & { forced: boolean }> {
    if (!this.alive()) return { ...(await this.proc.exited), forced: false };
    this.proc.child.kill(signal);
    const exit = await Promise.race([this.proc.exited, sleep(timeoutMs).then(() => null)]);
    if (exit) return { ...exit, forced: false };
    this.proc.child.kill('SIGKILL');
    return { ...(await this.proc.exited), forced: true };
  }

  async kill(): Promise<void> {
    if (this.alive()) this.proc.child.kill('SIGKILL');
    await this.proc.exited;
    rmSync(this.memoryFile, { force: true });
  }

  output(): string {
    return this.proc.output();
  }
}
