#!/usr/bin/env node
// `npm install` hook: generates the Prisma clients into src/registry/generated, then builds dist/
// (`npm run build`) so that `npm start` works right after a fresh clone's install.
// The build step is skipped, with a message, where it cannot or need not run:
//   - src/cli.ts is absent: an install before the sources are there (the Docker build stage copies
//     them after `npm ci` and builds explicitly);
//   - typescript is absent (`npm ci --omit=dev`): an existing dist/ is kept; without one the
//     install fails, since bin/bnserve.js would have nothing to run.
// A failing build only warns: the install itself succeeded, and `npm run build` / `npm test` report
// the compiler's errors again.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const require = createRequire(path.join(root, 'package.json'));

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

function isInstalled(name) {
  try {
    require.resolve(`${name}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** npm (or whichever client runs this hook) as [command, args]. */
function packageManager(args) {
  const execPath = process.env.npm_execpath;
  if (execPath && /\.[cm]?js$/.test(execPath)) return [process.execPath, [execPath, ...args]];
  return [execPath || 'npm', args];
}

const generated = run(process.execPath, [path.join(root, 'scripts', 'prisma-generate.mjs')]);
if (generated !== 0) process.exit(generated);

if (!existsSync(path.join(root, 'src', 'cli.ts'))) {
  console.log('[postinstall] no sources (src/cli.ts) here: build skipped.');
} else if (!isInstalled('typescript')) {
  if (!existsSync(path.join(root, 'dist', 'cli.js'))) {
    console.error(
      '\n[postinstall] ERROR: dist/ is not built and typescript (a dev dependency) is not installed. ' +
        'Install with dev dependencies (`npm ci`), run `npm run build`, and only then prune (`npm prune --omit=dev`).\n',
    );
    process.exit(1);
  }
  console.log('[postinstall] typescript not installed (dev dependency): keeping the existing dist/.');
} else {
  const [command, args] = packageManager(['run', 'build']);
  if (run(command, args) !== 0) {
    console.warn('\n[postinstall] WARNING: `npm run build` failed (errors above); bin/bnserve.js needs it. Fix and rerun it.\n');
  }
}
