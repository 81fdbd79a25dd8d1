// BNSERVE_WORKERS=2: two serving processes behind one port, one /metrics for both, one SIGTERM for all.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT, registryEnv, runCli } from './run-cli.ts';

const ROW = [5.1, 3.5, 1.4, 0.2];

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** One request on its own connection, so the cluster spreads them over its processes. */
function request(port: number, method: string, url: string, body?: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: url, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('bnserve serve with BNSERVE_WORKERS=2', () => {
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'bnserve-workers-'));
    env = { ...registryEnv(dir), BNSERVE_LOG_LEVEL: 'warn', BNSERVE_EXECUTION_PROVIDERS: 'cpu', BNSERVE_GRPC_PORT: '0' };
    const trained = await runCli(['train', '--config', 'examples/iris-bn.json', '--out', path.join(dir, 'ckpt')], env);
    assert.equal(trained.code, 0, trained.stderr);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves from two processes on one port, reports metrics for both, and drains both on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/bnserve.js'), 'serve', '--port', String(port)], {
      cwd: ROOT,
      env: { ...process.env, ...env, BNSERVE_WORKERS: '2' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      const deadline = Date.now() + 40_000;
      while ((output.match(/bnserve listening on .* \(process \d+\)/g) ?? []).length < 2) {
        assert.equal(child.exitCode, null, `the server exited early:\n${output}`);
        assert.ok(Date.now() < deadline, `two listening processes within 2 min:\n${output}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const pids = new Set([...output.matchAll(/\(process (\d+)\)/g)].map((m) => m[1]));
      assert.equal(pids.size, 2, output);
      assert.match(output, /2 serving processes share the port/);

      const body = JSON.stringify({ instances: [ROW] });
      const answers = await Promise.all(Array.from({ length: 20 }, () => request(port, 'POST', '/v1/models/iris:predict', body)));
      assert.deepEqual(new Set(answers.map((a) => a.status)), new Set([200]));
      assert.equal(new Set(answers.map((a) => a.text)).size, 1, 'every process gives the same answer');

      // Whichever process answers the scrape, it reports both processes' requests.
      for (let i = 0; i < 4; i++) {
        const metrics = await request(port, 'GET', '/metrics');
        assert.equal(metrics.status, 200);
        assert.match(
          metrics.text,
          /bnserve_requests_total\{route="\/v1\/models\/:model:predict",model="iris",version="1",status="200"\} 20\n/,
        );
      }
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, output);
    assert.match(output, /SIGTERM received: every serving process drains and exits/);
    assert.equal((output.match(/no new connections, finishing in-flight requests/g) ?? []).length, 2, output);
  });
});
