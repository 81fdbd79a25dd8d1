// Every curl line of the documentation (README.md and docs/*.md), read from the pages themselves and
// run against a server started as `npm start` starts it (fresh registry: trains Iris, promotes it,
// serves), so the examples cannot drift.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, registryEnv, runCli } from '../cli/run-cli.ts';

interface Curl {
  source: string;
  method?: string;
  path: string;
  body?: string;
  /** `--data-binary @FILE`: the body is that file's bytes. */
  file?: string;
  headers: Record<string, string>;
}

/** Shell operators that end a command: whatever follows is not curl's. */
const COMMAND_END = new Set(['|', '||', '&', '&&', ';']);

/**
 * Shell words of one command line: single quotes taken literally; `$NAME` and `${NAME}` expanded from
 * `env` outside single quotes (left as written when `env` lacks them); `#` comments dropped.
 */
function words(line: string, env: Record<string, string> = {}): string[] {
  const out: string[] = [];
  let word: string | null = null;
  const expand = (text: string) =>
    text.replace(
      /\$(?:\{(\w+)\}|(\w+))/g,
      (whole, braced: string | undefined, bare: string | undefined) => env[braced ?? bare ?? ''] ?? whole,
    );
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      const quoted = line.slice(i + 1, end);
      word = (word ?? '') + (c === '"' ? expand(quoted) : quoted);
      i = end;
    } else if (/\s/.test(c)) {
      if (word !== null) out.push(word);
      word = null;
    } else if (c === '#' && word === null) {
      break;
    } else if (c === '$') {
      const m = /^\$(?:\{\w+\}|\w+)/.exec(line.slice(i));
      word = (word ?? '') + (m ? expand(m[0]) : c);
      if (m) i += m[0].length - 1;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) out.push(word);
  return out;
}

/** Every curl command in the shell blocks (```sh, ```bash, ```shell) of a markdown page. */
export function curlCommands(markdown: string, env: Record<string, string> = {}): Curl[] {
  const commands: Curl[] = [];
  for (const block of markdown.matchAll(/^```(?:sh|bash|shell)\n([\s\S]*?)^```/gm)) {
    for (const line of block[1].replace(/\\\n\s*/g, ' ').split('\n')) {
      const all = words(line, env);
      const end = all.findIndex((w) => COMMAND_END.has(w) || w.startsWith('>'));
      const w = end < 0 ? all : all.slice(0, end);
      if (w[0] !== 'curl') continue;
      const curl: Curl = { source: line.trim(), path: '', headers: {} };
      for (let i = 1; i < w.length; i++) {
        if (w[i] === '--data-binary' && w[i + 1]?.startsWith('@')) curl.file = w[++i].slice(1);
        else if (['-d', '--data', '--data-raw', '--data-binary'].includes(w[i])) curl.body = w[++i];
        else if (w[i] === '-X' || w[i] === '--request') curl.method = w[++i];
        else if (w[i] === '-H' || w[i] === '--header') {
          const [k, ...v] = w[++i].split(':');
          curl.headers[k.trim()] = v.join(':').trim();
        } else if (!w[i].startsWith('-')) curl.path = w[i].replace(/^(https?:\/\/)?[^/]+/, '');
      }
      commands.push(curl);
    }
  }
  return commands;
}

/**
 * Files the documentation's examples write with tools the suite does not run (PyTorch), mapped to the
 * fixtures those tools made: docs/import.md exports `bn_mlp.onnx` exactly as make_fixtures.py's BnMlp.
 */
const DOCUMENTED_FILES: Record<string, string> = { 'bn_mlp.onnx': 'test/fixtures/pytorch/mlp_eval.onnx' };

/** README.md and every page under docs/, as paths relative to the repository root. */
export function documentationPages(): string[] {
  const docs = readdirSync(path.join(ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`);
  return ['README.md', ...docs];
}

const adminToken = randomBytes(16).toString('hex');
let dir: string;
let child: ChildProcess;
let url: string;
let stdout = '';

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-readme-'));
  child = spawn(process.execPath, [path.join(ROOT, 'bin/bnserve.js'), 'start', '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, ...registryEnv(dir), BNSERVE_LOG_LEVEL: 'warn', HOST: '127.0.0.1', BNSERVE_ADMIN_TOKEN: adminToken },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.resume();
  url = await new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (d) => {
      stdout += d;
      const m = /bnserve listening on (\S+)\ntry:\n(.*\n){3}/.exec(stdout);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`bnserve start exited ${code}: ${stdout}`)));
  });
});

after(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  await rm(dir, { recursive: true, force: true });
});

async function send(c: Curl) {
  // What curl sends: -d without -H content-type is application/x-www-form-urlencoded.
  const hasType = Object.keys(c.headers).some((k) => k.toLowerCase() === 'content-type');
  const headers =
    (c.body !== undefined || c.file !== undefined) && !hasType
      ? { ...c.headers, 'content-type': 'application/x-www-form-urlencoded' }
      : c.headers;
  const body = c.file === undefined ? c.body : await readFile(path.join(ROOT, DOCUMENTED_FILES[c.file] ?? c.file));
  const response = await fetch(url + c.path, {
    method: c.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    ...(body === undefined ? {} : { body }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

/** docs/import.md's `bnserve import bn_mlp.onnx --name bn-mlp --sample sample.npy`, then the server has loaded it. */
async function importDocumentedModel(): Promise<void> {
  const imported = await runCli(['import', DOCUMENTED_FILES['bn_mlp.onnx'], '--name', 'bn-mlp'], registryEnv(dir));
  assert.equal(imported.code, 0, imported.stderr);
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    if ((await fetch(`${url}/v2/models/bn-mlp/ready`)).status === 200) return;
  }
  assert.fail('the server did not load the imported bn-mlp within 30 s');
}

test('npm start on a fresh registry trains Iris and points production at it', () => {
  assert.match(stdout, /promoted iris version 1 to "production"/);
});

test('curl lines are read from every shell block, with -X, headers, $VARIABLES and continuations', () => {
  const page = [
    '```sh',
    `curl -s -X PUT localhost:8080/a -H "authorization: Bearer $TOKEN" \\`,
    `  -H 'content-type: application/json' -d '{"x": "$TOKEN"}'   # comment`,
    'curl -s localhost:8080/b | head -1',
    '```',
    '```bash',
    'kubectl get pods',
    'curl -s http://127.0.0.1:8080/c?d=1',
    "curl -s -X POST localhost:8080/e -H 'content-type: application/octet-stream' --data-binary @bn_mlp.onnx",
    '```',
    '```python',
    'curl = 1',
    '```',
  ].join('\n');
  assert.deepEqual(curlCommands(page, { TOKEN: 't' }), [
    {
      source: `curl -s -X PUT localhost:8080/a -H "authorization: Bearer $TOKEN"  -H 'content-type: application/json' -d '{"x": "$TOKEN"}'   # comment`,
      method: 'PUT',
      path: '/a',
      headers: { authorization: 'Bearer t', 'content-type': 'application/json' },
      body: '{"x": "$TOKEN"}',
    },
    { source: 'curl -s localhost:8080/b | head -1', path: '/b', headers: {} },
    { source: 'curl -s http://127.0.0.1:8080/c?d=1', path: '/c?d=1', headers: {} },
    {
      source: "curl -s -X POST localhost:8080/e -H 'content-type: application/octet-stream' --data-binary @bn_mlp.onnx",
      method: 'POST',
      path: '/e',
      headers: { 'content-type': 'application/octet-stream' },
      file: 'bn_mlp.onnx',
    },
  ]);
});

test('every curl line of README.md and docs/*.md answers 2xx with JSON', { timeout: 180_000 }, async () => {
  const commands: (Curl & { page: string })[] = [];
  for (const page of documentationPages()) {
    const markdown = await readFile(path.join(ROOT, page), 'utf8');
    for (const c of curlCommands(markdown, { BNSERVE_ADMIN_TOKEN: adminToken })) commands.push({ ...c, page });
  }
  assert.ok(commands.length > 0, `no curl line found in ${documentationPages().join(', ')}`);
  assert.ok(commands.some((c) => c.path.includes('/labels/production:predict')));
  assert.ok(commands.some((c) => c.path.includes('/bn-mlp:predict')));
  await importDocumentedModel();
  for (const c of commands) {
    const r = await send(c);
    assert.ok(r.status >= 200 && r.status < 300, `${c.page}: ${c.source}\n→ ${r.status} ${JSON.stringify(r.json)}`);
  }
});

test('every curl line `npm start` prints answers 2xx', { timeout: 60_000 }, async () => {
  const printed = stdout.split('\n').filter((l) => l.startsWith('curl '));
  assert.equal(printed.length, 3);
  assert.ok(printed.some((l) => l.includes('/labels/production:predict')));
  for (const line of printed) {
    const [c] = curlCommands(`\`\`\`sh\n${line}\n\`\`\`\n`);
    const r = await send(c);
    assert.equal(r.status, 200, `${line}\n→ ${r.status} ${JSON.stringify(r.json)}`);
  }
});
