// `npm run bench -- queue-full`: how fast a request is turned away when its model's queue is full
// (issue 11: 503 + Retry-After within 5 ms). One bnserve process whose MLP queue holds one request
// that waits 10 s for company; then single requests, one at a time on a keep-alive connection,
// each timed from send to its 503.
import http from 'node:http';
import { MLP_SIZES, startServerChild, stopServerChild } from './serve-child.ts';

export async function benchQueueFull(): Promise<void> {
  const env = { BNSERVE_MODEL_BATCHING: JSON.stringify({ mlp: { maxQueueSize: 1, maxQueueDelayMicroseconds: 10_000_000 } }) };
  const { child, url } = await startServerChild('bnserve', env);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const row = Array.from({ length: MLP_SIZES[0] }, (_, i) => ((i * 37) % 255) / 255);
  const body = JSON.stringify({ instances: [row] });
  const post = () =>
    new Promise<{ status: number; retryAfter: string | undefined; ms: number }>((resolve, reject) => {
      const started = performance.now();
      const req = http.request(
        `${url}/v1/models/mlp:predict`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], ms: performance.now() - started }),
          );
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  try {
    const waiting = http.request(`${url}/v1/models/mlp:predict`, { method: 'POST', headers: { 'content-type': 'application/json' } });
    waiting.on('error', () => {});
    waiting.end(body);
    await new Promise((r) => setTimeout(r, 500));
    // Opens the keep-alive connection and warms this process's own HTTP client code, so that the
    // first timed request measures the server, not a TCP handshake or the client's cold start.
    await new Promise<void>((resolve, reject) =>
      http.get(`${url}/v2/health/live`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject),
    );
    const times: number[] = [];
    let other = 0;
    for (let i = 0; i < 500; i++) {
      const r = await post();
      if (r.status === 503 && r.retryAfter === '1') times.push(r.ms);
      else other++;
    }
    // The first 503 the process sends runs cold code (JIT, first error serialisation): shown apart.
    const first = times[0];
    const afterFirst = Math.max(...times.slice(1));
    times.sort((a, b) => a - b);
    const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))].toFixed(2);
    console.log(
      `queue-full: ${times.length} × 503 with Retry-After, ${other} other answers; latency p50 ${q(0.5)} ms, p99 ${q(0.99)} ms, max ${q(1)} ms; first ${first.toFixed(2)} ms, max after the first ${afterFirst.toFixed(2)} ms (target: within 5 ms)`,
    );
  } finally {
    agent.destroy();
    await stopServerChild(child);
  }
}
