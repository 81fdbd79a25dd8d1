import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { redactPassword, resolveDatabaseTarget } from '../../src/registry/database-url.ts';
import { openRegistry, startHeartbeat } from '../../src/registry/index.ts';
import { PRISMA_DIR } from '../../src/registry/migrations-folder.ts';

test('DATABASE_URL: SQLite paths resolve against the working directory; postgres URLs pass through', () => {
  assert.deepEqual(resolveDatabaseTarget(undefined, '/srv/app'), {
    provider: 'sqlite',
    url: 'file:/srv/app/data/bnserve.db',
    filePath: '/srv/app/data/bnserve.db',
  });
  assert.equal(resolveDatabaseTarget('  ', '/srv/app').filePath, '/srv/app/data/bnserve.db');
  assert.equal(resolveDatabaseTarget('file:db/x.db?connection_limit=1', '/srv').filePath, '/srv/db/x.db');
  assert.equal(resolveDatabaseTarget('file:///var/lib/bn.db', '/srv').filePath, '/var/lib/bn.db');
  assert.equal(resolveDatabaseTarget('file:/var/lib/bn.db', '/srv').url, 'file:/var/lib/bn.db');
  for (const url of ['postgres://u@h/db', 'postgresql://u:p@h:5432/db?schema=public']) {
    assert.deepEqual(resolveDatabaseTarget(url), { provider: 'postgresql', url, filePath: null });
  }
  assert.throws(
    () => resolveDatabaseTarget('mysql://u:hunter2@h/db'),
    (e: Error) => /unsupported DATABASE_URL/.test(e.message) && !/hunter2/.test(e.message),
  );
  assert.throws(() => resolveDatabaseTarget('file::memory:'), /in-memory/);
  assert.equal(redactPassword('postgresql://bn:s3cret@db:5432/x'), 'postgresql://bn:***@db:5432/x');
});

test('openRegistry() with nothing set creates ./data/bnserve.db and ./data/artifacts under the working directory', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'bnserve-defaults-'));
  const saved = { cwd: process.cwd(), db: process.env.DATABASE_URL, artifacts: process.env.BNSERVE_ARTIFACTS };
  delete process.env.DATABASE_URL;
  delete process.env.BNSERVE_ARTIFACTS;
  process.chdir(dir);
  try {
    const registry = await openRegistry();
    try {
      const { versionInput } = await import('./support/inputs.ts');
      const version = await registry.registerVersion(versionInput('defaults'));
      assert.ok(existsSync(path.join(dir, 'data', 'bnserve.db')));
      assert.ok(version.artifactPath.startsWith(path.join(dir, 'data', 'artifacts', 'sha256') + path.sep));
    } finally {
      await registry.close();
    }
  } finally {
    process.chdir(saved.cwd);
    if (saved.db !== undefined) process.env.DATABASE_URL = saved.db;
    if (saved.artifacts !== undefined) process.env.BNSERVE_ARTIFACTS = saved.artifacts;
    await rm(dir, { recursive: true, force: true });
  }
});

test('startHeartbeat beats until stopped and reports failures instead of throwing', async () => {
  let beats = 0;
  const errors: unknown[] = [];
  const stop = startHeartbeat(
    {
      heartbeat: async () => {
        beats++;
        if (beats === 2) throw new Error('database blip');
      },
    },
    'run-1',
    5,
    (error) => errors.push(error),
  );
  while (beats < 3) await sleep(5);
  stop();
  const atStop = beats;
  await sleep(30);
  assert.equal(beats, atStop, 'no beat after stop');
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /database blip/);
});

test('scripts/prisma-generate.mjs: the derived schema is current and an up-to-date client is not regenerated', async () => {
  const run = promisify(execFile);
  const script = path.join(PRISMA_DIR, '..', 'scripts', 'prisma-generate.mjs');
  await run(process.execPath, [script, '--check']);
  const { stdout } = await run(process.execPath, [script]);
  assert.match(stdout, /up to date/);
});

test('a heartbeat alone does not keep the process alive (its timer is unref-ed)', () => {
  const heartbeat = new URL('../../src/registry/heartbeat.ts', import.meta.url).href;
  const started = Date.now();
  // A 60 s interval: a referenced timer would hold the child for a minute; the spawn gives up after 20 s.
  const child = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      `import { startHeartbeat } from '${heartbeat}'; startHeartbeat({ heartbeat: async () => {} }, 'run', 60_000);`,
    ],
    { timeout: 20_000, encoding: 'utf8' },
  );
  assert.equal(child.error, undefined, `the child did not exit by itself: ${child.error?.message}`);
  assert.equal(child.status, 0, child.stderr);
  assert.ok(Date.now() - started < 20_000);
});
