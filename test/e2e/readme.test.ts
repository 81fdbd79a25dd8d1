// The README's Serving examples, copied from the README itself and run against a server started
// as `npm start` starts it (fresh registry: trains Iris, promotes it, serves), so they cannot drift.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, registryEnv } from '../cli/run-cli.ts';

interface Curl {
  source: string;
  path: string;
  body?: string;
  headers: Record<string, string>;
}

/** Shell words of one command line: single/double quotes, `\` continuations joined, `#` comments dropped. */
function words(line: string): string[] {
  const out: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (/\s/.test(c)) {
      if (word !== null) out.push(word);
      word = null;
    } else if (c === '#' && word === null) {
      break;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== null) out.push(word);
  return out;
}

/** Every curl command in the ```sh blocks of a README section. */
export function curlCommands(markdown: string, section: string): Curl[] {
  const start = markdown.indexOf(`\n## ${section}\n`);
  assert.ok(start >= 0, `README has a "## ${section}" section`);
  const end = markdown.indexOf('\n## ', start + 1);
  const text = markdown.slice(start, end < 0 ? undefined : end);
  const commands: Curl[] = [];
  for (const block of text.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const line of block[1].replace(/\\\n\s*/g, ' ').split('\n')) {
      const w = words(line);
      if (w[0] !== 'curl') continue;
      const curl: Curl = { source: line.trim(), path: '', headers: {} };
      for (let i = 1; i < w.length; i++) {
        if (w[i] === '-d') curl.body = w[++i];
        else if (w[i] === '-H') {
          const [k, ...v] = w[++i].split(':');
          curl.headers[k.trim()] = v.join(':').trim();
        } else if (!w[i].startsWith('-')) curl.path = w[i].replace(/^(https?:\/\/)?[^/]+/, '');
      }
      commands.push(curl);
    }
  }
  return commands;
}

let dir: string;
let child: ChildProcess;
let url: string;
let stdout = '';

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'bnserve-readme-'));
  child = spawn(process.execPath, [path.join(ROOT, 'bin/bnserve.js'), 'start', '--port', '0'], {
    cwd: ROOT,
    env: { ...process.env, ...registryEnv(dir), BNSERVE_LOG_LEVEL: 'warn', HOST: '127.0.0.1' },
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
  const headers = c.body !== undefined && !hasType ? { ...c.headers, 'content-type': 'application/x-www-form-urlencoded' } : c.headers;
  const response = await fetch(url + c.path, {
    method: c.body === undefined ? 'GET' : 'POST',
    headers,
    ...(c.body === undefined ? {} : { body: c.body }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

test('npm start on a fresh registry trains Iris and points production at it', () => {
  assert.match(stdout, /promoted iris version 1 to "production"/);
});

test("every curl line of the README's Serving section answers 2xx with JSON", { timeout: 120_000 }, async () => {
  const readme = await readFile(path.join(ROOT, 'README.md'), 'utf8');
  const commands = curlCommands(readme, 'Serving');
  assert.ok(commands.length >= 7, `found ${commands.length} curl lines`);
  assert.ok(commands.some((c) => c.path.includes('/labels/production:predict')));
  for (const c of commands) {
    const r = await send(c);
    assert.ok(r.status >= 200 && r.status < 300, `${c.source}\n→ ${r.status} ${JSON.stringify(r.json)}`);
  }
});

test('every curl line `npm start` prints answers 2xx', { timeout: 60_000 }, async () => {
  const printed = stdout.split('\n').filter((l) => l.startsWith('curl '));
  assert.equal(printed.length, 3);
  assert.ok(printed.some((l) => l.includes('/labels/production:predict')));
  for (const line of printed) {
    const [c] = curlCommands(`\n## P\n\`\`\`sh\n${line}\n\`\`\`\n`, 'P');
    const r = await send(c);
    assert.equal(r.status, 200, `${line}\n→ ${r.status} ${JSON.stringify(r.json)}`);
  }
});
