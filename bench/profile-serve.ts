// `node --import tsx bench/profile-serve.ts [--real] [--duration 8] [--connections 1,64] [--model iris|mlp]
// [--protocol predict|v2-json|v2-binary]`: runs bnserve under the CPU profiler while autocannon
// sends 1-row requests (TF Serving :predict, OIP v2 JSON or v2 binary), then prints where
// the server's CPU time went (self time by function and by package).
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { prepareCliRegistry, startCliServer, stopCliServer } from './cli-server.ts';
import { profileWhile, startServerChild, stopServerChild } from './serve-child.ts';
import { option } from './options.ts';
import { IRIS_ROW, JSON_HEADERS, MLP_ROW, predictBody, v2BinaryRequest, v2JsonBody } from './request-bodies.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Which package (or part of bnserve) a script belongs to. */
function owner(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const m = url.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (m) return m[1];
  const s = url.match(/\/src\/(.*)$/);
  if (s) return `bnserve:${s[1]}`;
  if (url.startsWith('node:')) return url;
  return path.basename(url);
}

/** What a request spends time on, by the nearest recognised frame from the leaf up. */
const CATEGORIES: [RegExp, string][] = [
  [/pino|sonic-boom/, 'logging (pino)'],
  [/prom-client/, 'metrics (prom-client)'],
  [/fastify-type-provider-zod|\/zod\//, 'validation + response serialisation (zod)'],
  [/onnxruntime/, 'onnxruntime (JS binding + run)'],
  [/secure-json-parse|contentTypeParser/, 'JSON body parsing'],
  [/fast-json-stringify|serialize/, 'serialisation'],
  [/src\/serve\/dataplane\/batcher/, 'batching'],
  [/src\/serve\/(dataplane\/tensor-(data|bytes)|http\/binary-tensors)/, 'tensor decoding'],
  [/src\/serve\/(dataplane\/(predictions|inference|data-plane)|http\/routes)/, 'bnserve request code'],
  [/src\/serve/, 'bnserve other'],
  [/find-my-way|\/fastify\//, 'fastify routing + hooks'],
  [/node:_http|node:net|stream_base|node:internal\/streams/, 'node http + sockets'],
];

function categories(profile: Profile): Map<string, number> {
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const memo = new Map<number, string>();
  const categoryOf = (id: number): string => {
    const cached = memo.get(id);
    if (cached) return cached;
    let cur: number | undefined = id;
    let found = '';
    while (cur !== undefined && !found) {
      const n = byNode.get(cur)!;
      const fn = n.callFrame.functionName;
      if (fn === '(idle)' || fn === '(garbage collector)' || fn === '(program)') found = fn;
      else
        for (const [re, name] of CATEGORIES)
          if (re.test(n.callFrame.url)) {
            found = name;
            break;
          }
      cur = parent.get(cur);
    }
    found ||= 'other';
    memo.set(id, found);
    return found;
  };
  const out = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const c = categoryOf(id);
    out.set(c, (out.get(c) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return out;
}

export function summarise(profile: Profile, top = 25): string {
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const byFn = new Map<string, number>();
  const byOwner = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byNode.get(id)!;
    const o = owner(n.callFrame.url, n.callFrame.functionName);
    const f = `${n.callFrame.functionName || '(anonymous)'} ${o}:${n.callFrame.lineNumber + 1}`;
    byFn.set(f, (byFn.get(f) ?? 0) + us);
    byOwner.set(o, (byOwner.get(o) ?? 0) + us);
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const lines = [`total sampled ${(total / 1e6).toFixed(2)} s`, '-- by activity (nearest recognised caller of each sample)'];
  for (const [c, us] of [...categories(profile)].sort((a, b) => b[1] - a[1])) lines.push(`${pct(us)}  ${c}`);
  lines.push('-- self time by package / module');
  for (const [o, us] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 12)) lines.push(`${pct(us)}  ${o}`);
  lines.push('-- self time by function');
  for (const [f, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`${pct(us)}  ${f}`);
  return lines.join('\n');
}

interface LoadRequest {
  path: string;
  headers: Record<string, string>;
  body: string | Buffer;
}

/** One row as a TF Serving :predict body, an OIP v2 JSON body, or an OIP v2 binary body (float32 after the JSON header). */
function requestFor(protocol: string, model: string, row: number[]): LoadRequest {
  if (protocol === 'predict') return { path: `/v1/models/${model}:predict`, headers: JSON_HEADERS, body: predictBody(row) };
  if (protocol === 'v2-json') return { path: `/v2/models/${model}/infer`, headers: JSON_HEADERS, body: v2JsonBody(row) };
  if (protocol !== 'v2-binary') throw new Error(`--protocol must be predict, v2-json or v2-binary, not ${protocol}`);
  return { path: `/v2/models/${model}/infer`, ...v2BinaryRequest(row) };
}

async function main(): Promise<void> {
  const autocannon = createRequire(import.meta.url)('autocannon') as (o: object) => Promise<{ requests: { average: number } }>;
  const duration = Number(option('duration', '8'));
  const model = option('model', 'iris');
  const row = model === 'iris' ? IRIS_ROW : MLP_ROW;
  const protocol = option('protocol', 'predict');
  const request = requestFor(protocol, model, row);
  // --real: the server users run (`bnserve serve` from dist/ on a real registry, bench/cli-server.ts),
  // profiled for its whole life with --cpu-prof (start-up included, a second or so of the samples).
  const registry = process.argv.includes('--real') ? prepareCliRegistry() : null;
  for (const c of option('connections', '1,64').split(',').map(Number)) {
    if (registry) {
      const dir = mkdtempSync(path.join(tmpdir(), 'bnserve-prof-'));
      const server = await startCliServer(registry, `profile-c${c}`, {}, ['--cpu-prof', '--cpu-prof-dir', dir]);
      const load = { url: `${server.url}${request.path}`, method: 'POST', headers: request.headers, body: request.body, connections: c };
      const r = await autocannon({ ...load, duration });
      await stopCliServer(server);
      const file = path.join(dir, readdirSync(dir)[0]);
      console.log(
        `\n=== bnserve serve (real) ${model} ${protocol} c=${c}: ${r.requests.average.toFixed(0)} req/s while profiling (${file})`,
      );
      console.log(summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile));
      continue;
    }
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'bnserve-prof-')), 'serve.cpuprofile');
    const env = { BNSERVE_BENCH_PROFILE: '1', ...(process.argv.includes('--quiet') ? { BNSERVE_LOG_LEVEL: 'warn' } : {}) };
    const { child, url } = await startServerChild('bnserve', env);
    const load = { url: `${url}${request.path}`, method: 'POST', headers: request.headers, body: request.body, connections: c };
    await autocannon({ ...load, duration: 1 }); // warm-up
    const r = await profileWhile(child, file, () => autocannon({ ...load, duration }));
    await stopServerChild(child);
    console.log(`\n=== ${model} ${protocol} c=${c}: ${r.requests.average.toFixed(0)} req/s while profiling (${file})`);
    console.log(summarise(JSON.parse(readFileSync(file, 'utf8')) as Profile));
  }
}

await main();
