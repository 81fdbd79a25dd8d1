// Over real sockets: shutdown under keep-alive load loses nothing, and slow clients are cut off.
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { connect } from 'node:net';
import { describe, it } from 'node:test';
import { startServer, type RunningServer } from '../../src/serve/index.ts';
import { FakeRegistry } from './fake-registry.ts';
import { IRIS_ROWS, randomMlp, versionInput } from './fixtures.ts';

async function irisServer(extra: Partial<Parameters<typeof startServer>[0]> = {}): Promise<RunningServer> {
  const registry = new FakeRegistry();
  await registry.registerVersion(versionInput('iris', randomMlp(31), 'classification'));
  return startServer({ registry, env: {}, host: '127.0.0.1', port: 0, providers: ['cpu'], logger: false, refreshIntervalMs: 0, ...extra });
}

interface Answer {
  status: number;
  body: string;
  connection: string | undefined;
}

function post(agent: Agent, url: URL, body: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('shutdown under keep-alive load', () => {
  it('stops accepting, answers every request it read in full, and resets no connection', { timeout: 240_000 }, async () => {
    for (let round = 0; round < 3; round++) {
      let completedByServer = 0;
      const server = await irisServer({
        timeouts: { keepAliveMs: 5000 },
        extend: (app) => {
          app.addHook('onResponse', async (request) => {
            if (request.routeOptions.url?.includes('predict')) completedByServer++;
          });
        },
      });
      let connections = 0;
      server.app.server.on('connection', () => connections++);
      const url = new URL(`${server.url}/v1/models/iris:predict`);
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      const body = JSON.stringify({ instances: [IRIS_ROWS[0]] });
      const answers: Answer[] = [];
      const errors: string[] = [];
      let draining = false;
      const client = async () => {
        for (;;) {
          try {
            answers.push(await post(agent, url, body));
          } catch (err) {
            const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
            errors.push(code);
            // Refused: the listener is closed, the client is done. Anything else is a loss.
            if (code === 'ECONNREFUSED' && draining) return;
            if (errors.length > 1000) return;
          }
        }
      };
      const clients = Array.from({ length: 16 }, client);
      while (answers.length < 300 && errors.length === 0) await new Promise((r) => setTimeout(r, 5));
      draining = true;
      const closed = server.close();
      await Promise.all(clients);
      await closed;
      agent.destroy();

      assert.ok(answers.length >= 300, `round ${round}: the clients were answered before the shutdown`);
      assert.ok(
        connections <= 32,
        `round ${round}: the clients reused their keep-alive connections (${connections} for ${answers.length})`,
      );
      assert.deepEqual(
        errors.filter((e) => e !== 'ECONNREFUSED'),
        [],
        `round ${round}: no connection reset or hang-up (${answers.length} answers)`,
      );
      for (const a of answers) {
        assert.equal(a.status, 200, a.body);
        assert.equal((JSON.parse(a.body) as { predictions: unknown[] }).predictions.length, 1, 'a complete body');
      }
      assert.equal(answers.length, completedByServer, `round ${round}: every response the server finished reached its client`);
      assert.ok(
        answers.some((a) => a.connection === 'close'),
        'responses finished during the drain say "Connection: close"',
      );
    }
  });

  it('cuts keep-alive connections that stay open past the shutdown timeout', { timeout: 60_000 }, async () => {
    const server = await irisServer({ timeouts: { keepAliveMs: 60_000, shutdownMs: 300 } });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const url = new URL(`${server.url}/v1/models/iris:predict`);
      const first = await post(agent, url, JSON.stringify({ instances: [IRIS_ROWS[0]] }));
      assert.equal(first.status, 200);
      assert.match(String(first.connection ?? 'keep-alive'), /keep-alive/i);
      await server.close(); // the idle socket would otherwise stay open for 60 s
      assert.equal(server.app.server.listening, false);
    } finally {
      agent.destroy();
    }
  });
});

/** Writes `parts` with `gapMs` between them; resolves with what the server sent and whether it closed. */
function slowClient(port: number, parts: string[], gapMs: number, giveUpMs: number): Promise<{ text: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    let done = false;
    const socket = connect(port, '127.0.0.1');
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(giveUp);
      clearInterval(writer);
      socket.destroy();
      resolve({ text, closedByServer });
    };
    const giveUp = setTimeout(() => finish(false), giveUpMs);
    let next = 0;
    const writer = setInterval(() => {
      if (next < parts.length && socket.writable) socket.write(parts[next++]);
    }, gapMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
  });
}

describe('slow clients', () => {
  it('a client that sends its headers too slowly, its body too slowly, or nothing at all is answered 408 and cut off', {
    timeout: 120_000,
  }, async () => {
    const server = await irisServer({ timeouts: { headersMs: 500, requestMs: 1500 } });
    try {
      const port = Number(new URL(server.url).port);
      const body = JSON.stringify({ instances: [IRIS_ROWS[0]] });
      const head = `POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
      // Far slower than the limits, and still unfinished when the client gives up after 20 s.
      const slowHeaders = head.split('\n').map((line, i, all) => (i < all.length - 1 ? `${line}\n` : line));
      const slowBody = [head, ...body.split('')];
      const cases = {
        'slow headers': await slowClient(port, slowHeaders, 400, 20_000),
        'slow body': await slowClient(port, slowBody, 400, 20_000),
        silent: await slowClient(port, [], 400, 20_000),
      };
      for (const [name, result] of Object.entries(cases)) {
        assert.equal(result.closedByServer, true, `${name}: the server closed the connection`);
        assert.match(result.text, /^HTTP\/1\.1 408 /, `${name}: answered 408`);
        assert.match(result.text, /"error":"the request was not received in time"/);
      }
      // The server still answers normal clients.
      const r = await fetch(`${server.url}/v1/models/iris:predict`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 200);
    } finally {
      await server.close();
    }
  });
});
