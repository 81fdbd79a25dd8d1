// `bnserve serve` with a port that another process holds (a second bnserve on the default gRPC port
// 8081): exit 2 with one line that names the setting to change, and nothing written before it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, registryEnv, runCli } from './run-cli.ts';

function listen(server: Server, port: number): Promise<Error | null> {
  return new Promise((resolve) => {
    server.once('error', resolve);
    server.listen(port, '127.0.0.1', () => resolve(null));
  });
}

describe('bnserve serve when its port is taken', () => {
  let dir: string;
  let holder: Server;
  let held: number;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-ports-'));
    holder = createServer();
    await listen(holder, 0);
    held = (holder.address() as { port: number }).port;
  });
  after(async () => {
    await new Promise((resolve) => holder.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  const serve = (env: Record<string, string>) =>
    runCli(['serve'], { ...registryEnv(dir), HOST: '127.0.0.1', BNSERVE_EXECUTION_PROVIDERS: 'cpu', ...env });

  const assertOneLineExit2 = (result: Awaited<ReturnType<typeof runCli>>, setting: RegExp) => {
    assert.equal(result.code, 2, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0], new RegExp(`^bnserve: error: cannot serve .* on 127\\.0\\.0\\.1:${held}: the port is in use; `));
    assert.match(lines[0], setting);
    assert.doesNotMatch(result.stderr, /unexpected error|\n\s+at /);
    assert.equal(existsSync(path.join(dir, 'registry.db')), false, 'the registry was not created or migrated');
  };

  it('the gRPC port (BNSERVE_GRPC_PORT): exit 2, one line naming BNSERVE_GRPC_PORT, before the registry is opened', async () => {
    const result = await serve({ PORT: '0', BNSERVE_GRPC_PORT: String(held) });
    assertOneLineExit2(result, /set BNSERVE_GRPC_PORT to a free port \(0 turns gRPC off\)$/);
  });

  it('the gRPC port with BNSERVE_WORKERS=2: the primary says so before it forks', async () => {
    const result = await serve({ PORT: '0', BNSERVE_GRPC_PORT: String(held), BNSERVE_WORKERS: '2' });
    assertOneLineExit2(result, /BNSERVE_GRPC_PORT/);
  });

  it('`start` checks its ports before it trains or opens the registry', async () => {
    const result = await runCli(['start'], {
      ...registryEnv(dir),
      HOST: '127.0.0.1',
      BNSERVE_EXECUTION_PROVIDERS: 'cpu',
      PORT: '0',
      BNSERVE_GRPC_PORT: String(held),
    });
    assertOneLineExit2(result, /BNSERVE_GRPC_PORT/);
    assert.doesNotMatch(result.stdout, /training/);
  });

  it('the HTTP port (PORT): exit 2, one line naming PORT', async () => {
    const result = await serve({ PORT: String(held), BNSERVE_GRPC_PORT: '0' });
    assertOneLineExit2(result, /set PORT \(or --port\) to a free port$/);
  });

  it('a gRPC port taken after the check, before the workers bind it: they exit 2, and the primary stops with 2', async (t) => {
    const race = path.join(dir, 'race');
    mkdirSync(race);
    const probe = createServer();
    await listen(probe, 0);
    const port = (probe.address() as { port: number }).port;
    await new Promise((resolve) => probe.close(resolve));
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/bnserve.js'), 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        ...registryEnv(race),
        HOST: '127.0.0.1',
        PORT: '0',
        BNSERVE_GRPC_PORT: String(port),
        BNSERVE_WORKERS: '2',
        BNSERVE_EXECUTION_PROVIDERS: 'cpu',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    const taker = createServer();
    try {
      // The primary has checked the ports and forked; the workers take a second or more to bind.
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d) => {
          stdout += d;
          if (stdout.includes('serving processes share the port')) resolve();
        });
      });
      if (await listen(taker, port)) {
        t.skip('a serving process bound the gRPC port before the test could take it');
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        exited,
        new Promise<string>((r) => (timer = setTimeout(() => r('still running after 60 s'), 60_000))),
      ]);
      clearTimeout(timer);
      assert.equal(code, 2, `${stdout}\n${stderr}`);
      assert.match(
        stderr,
        new RegExp(`bnserve: error: cannot serve gRPC on 127\\.0\\.0\\.1:${port}: the port is in use; set BNSERVE_GRPC_PORT`),
      );
      assert.doesNotMatch(stderr, /unexpected error/);
      assert.match(stdout, /cannot start with this configuration .*; stopping/);
    } finally {
      child.kill('SIGKILL');
      taker.close();
    }
  });
});
