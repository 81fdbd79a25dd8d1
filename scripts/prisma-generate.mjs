#!/usr/bin/env node
// Generates the two Prisma clients (SQLite, PostgreSQL) with no network; runs as `postinstall`.
//   node scripts/prisma-generate.mjs           derive prisma/postgresql/schema.prisma, generate what changed
//   node scripts/prisma-generate.mjs --force   regenerate both clients
//   node scripts/prisma-generate.mjs --check   only verify the derived schema is current (exit 1 if not)
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { POSTGRES_SCHEMA, SQLITE_SCHEMA, derivePostgresSchema } from '../prisma/schema-variants.mjs';

const scriptPath = fileURLToPath(import.meta.url);
const root = path.resolve(path.dirname(scriptPath), '..');
const require = createRequire(path.join(root, 'package.json'));
const GENERATE_TIMEOUT_MS = 180_000;
const FINGERPRINT_FILE = '.bnserve-fingerprint';

const targets = [
  { schema: SQLITE_SCHEMA, output: 'src/registry/generated/sqlite' },
  { schema: POSTGRES_SCHEMA, output: 'src/registry/generated/postgresql' },
];

function fail(message) {
  console.error(`\n[prisma-generate] ERROR: ${message}\n`);
  process.exit(1);
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version;
  } catch {
    return null;
  }
}

function syncDerivedSchema(checkOnly) {
  const expected = derivePostgresSchema(readFileSync(path.join(root, SQLITE_SCHEMA), 'utf8'));
  const target = path.join(root, POSTGRES_SCHEMA);
  const current = existsSync(target) ? readFileSync(target, 'utf8') : null;
  if (current === expected) return;
  if (checkOnly) fail(`${POSTGRES_SCHEMA} is out of date: run \`node scripts/prisma-generate.mjs\`.`);
  writeFileSync(target, expected);
  console.log(`[prisma-generate] wrote ${POSTGRES_SCHEMA}`);
}

function fingerprintOf(schemaPath, cliVersion, clientVersion) {
  const hash = createHash('sha256');
  hash.update(readFileSync(path.join(root, schemaPath)));
  hash.update(`\0prisma@${cliVersion}\0@prisma/client@${clientVersion}`);
  return hash.digest('hex');
}

function isUpToDate(target, fingerprint) {
  const dir = path.join(root, target.output);
  const file = path.join(dir, FINGERPRINT_FILE);
  return existsSync(path.join(dir, 'client.ts')) && existsSync(file) && readFileSync(file, 'utf8').trim() === fingerprint;
}

function runPrismaGenerate(cliPath, schema) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliPath, 'generate', '--schema', schema], {
      cwd: root,
      env: {
        ...process.env,
        // `prisma generate` insists on a schema engine before generating, but never runs it; the
        // native one cannot be downloaded here. Any existing file satisfies the check.
        PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || scriptPath,
        CHECKPOINT_DISABLE: '1',
        PRISMA_HIDE_UPDATE_MESSAGE: '1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => {
      output += `\n(killed after ${GENERATE_TIMEOUT_MS / 1000} s)`;
      child.kill('SIGKILL');
    }, GENERATE_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, output: `${output}\n${error.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ ok: code === 0, output });
    });
  });
}

async function main() {
  const args = new Set(process.argv.slice(2));
  const started = performance.now();
  try {
    syncDerivedSchema(args.has('--check'));
  } catch (error) {
    fail(error instanceof Error ? error.message : String(error));
  }
  if (args.has('--check')) return;

  const cliVersion = packageVersion('prisma');
  const clientVersion = packageVersion('@prisma/client');
  if (!clientVersion) fail('@prisma/client is not installed; run `npm install`.');
  if (!cliVersion) {
    if (targets.every((t) => existsSync(path.join(root, t.output, 'client.ts')))) {
      console.warn('[prisma-generate] prisma CLI not installed (dev dependency); keeping the existing clients.');
      return;
    }
    fail(
      'the prisma CLI (devDependency "prisma") is not installed, so the client cannot be generated. ' +
        'Install with dev dependencies (`npm ci`), generate, and only then prune (`npm prune --omit=dev`).',
    );
  }

  const pending = targets
    .map((target) => ({ ...target, fingerprint: fingerprintOf(target.schema, cliVersion, clientVersion) }))
    .filter((target) => args.has('--force') || !isUpToDate(target, target.fingerprint));
  if (pending.length === 0) {
    console.log('[prisma-generate] Prisma clients are up to date.');
    return;
  }

  const cliPath = require.resolve('prisma/build/index.js');
  const results = await Promise.all(pending.map((target) => runPrismaGenerate(cliPath, target.schema)));
  const failures = [];
  results.forEach((result, i) => {
    const target = pending[i];
    if (result.ok) {
      writeFileSync(path.join(root, target.output, FINGERPRINT_FILE), `${target.fingerprint}\n`);
    } else {
      failures.push(`prisma generate --schema ${target.schema} failed:\n${result.output.trim()}`);
    }
  });
  if (failures.length > 0) fail(failures.join('\n\n'));
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  console.log(`[prisma-generate] generated ${pending.map((t) => t.output).join(', ')} in ${seconds} s`);
}

await main();
