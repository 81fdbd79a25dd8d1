import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  dockerignoreRegExp,
  parseCopy,
  parseEnv,
  readInstructions,
  readStages,
  runCommands,
  stageByName,
  stageChain,
  targetConfig,
  type Stage,
} from './dockerfile.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
const stages = readStages(dockerfile);
const SERVER_TARGETS = ['server', 'server-gpu'] as const;
const HEALTH_PATH = '/v2/health/ready';

function copies(stage: Stage) {
  return stage.instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args));
}

describe('Dockerfile reader', () => {
  test('joins continuations and skips comments', () => {
    const instructions = readInstructions('# c\nFROM a:1 AS x\nRUN one \\\n  # inside\n  && two\n\nCMD ["x"]\n');
    assert.deepEqual(
      instructions.map((i) => [i.keyword, i.args, i.line]),
      [
        ['FROM', 'a:1 AS x', 2],
        ['RUN', 'one && two', 3],
        ['CMD', '["x"]', 7],
      ],
    );
  });

  test('matches .dockerignore patterns like Docker', () => {
    assert.ok(dockerignoreRegExp('**/node_modules').test('node_modules'));
    assert.ok(dockerignoreRegExp('**/node_modules').test('a/b/node_modules'));
    assert.ok(dockerignoreRegExp('*.md').test('README.md'));
    assert.ok(!dockerignoreRegExp('*.md').test('docs/notes.md'));
    assert.ok(dockerignoreRegExp('data').test('data'));
    assert.ok(!dockerignoreRegExp('data').test('examples/data'));
    assert.ok(dockerignoreRegExp('.env.*').test('.env.local'));
    assert.ok(!dockerignoreRegExp('.env.*').test('.envXlocal'));
  });

  test('reads ENV in key=value and legacy forms', () => {
    assert.deepEqual(parseEnv('A=1 B="two words" C=x,y'), { A: '1', B: 'two words', C: 'x,y' });
    assert.deepEqual(parseEnv('LEGACY some value'), { LEGACY: 'some value' });
  });

  test('inherits settings along the FROM chain and resets CMD on ENTRYPOINT', () => {
    const s = readStages('FROM img:1 AS a\nENV X=1\nCMD ["a"]\nFROM a AS b\nENV Y=2\nENTRYPOINT ["e"]\nFROM a AS c\n');
    const b = targetConfig(s, 'b');
    assert.equal(b.baseImage, 'img:1');
    assert.deepEqual(b.chain, ['a', 'b']);
    assert.deepEqual(b.env, { X: '1', Y: '2' });
    assert.deepEqual(b.entrypoint, ['e']);
    assert.deepEqual(b.cmd, []);
    assert.deepEqual(targetConfig(s, 'c').cmd, ['a']);
  });
});

describe('Dockerfile', () => {
  test('has the named targets', () => {
    const names = stages.map((s) => s.name);
    for (const target of ['trainer', 'server', 'server-gpu']) assert.ok(names.includes(target), `missing target ${target}`);
  });

  test('pins every external base image by tag, never latest', () => {
    const known = new Set<string>();
    for (const stage of stages) {
      if (!known.has(stage.from)) {
        const match = /^[\w./-]+:([\w.-]+)(@sha256:[0-9a-f]{64})?$/.exec(stage.from);
        assert.ok(match, `FROM ${stage.from}: pin external images as image:tag`);
        assert.notEqual(match[1], 'latest', `FROM ${stage.from}: latest is not a pin`);
      }
      if (stage.name) known.add(stage.name);
    }
  });

  test('uses Node 24 LTS in every Node image, and CUDA 12 + cuDNN runtime for the GPU server', () => {
    assert.match(targetConfig(stages, 'server').baseImage, /^node:24\.\d+\.\d+-/);
    assert.match(targetConfig(stages, 'trainer').baseImage, /^node:24\.\d+\.\d+-/);
    const gpu = targetConfig(stages, 'server-gpu');
    assert.match(gpu.baseImage, /^nvidia\/cuda:12\.\d+\.\d+-cudnn-runtime-/);
    const nodeCopy = copies(stageByName(stages, 'server-gpu')).find((c) => c.sources.includes('/usr/local/bin/node'));
    assert.ok(nodeCopy, 'server-gpu copies the node binary');
    assert.match(targetConfig(stages, nodeCopy.from!).baseImage, /^node:24\./);
  });

  test('the build stage compiles the sources with `npm run build` after copying them', () => {
    const build = stageByName(stages, 'build');
    const sourcesAt = build.instructions.findIndex((i) => i.keyword === 'COPY' && parseCopy(i.args).sources.includes('src/'));
    const buildAt = build.instructions.findIndex((i) => i.keyword === 'RUN' && /(^|&&\s*)npm run build(\s|$)/.test(i.args));
    assert.ok(sourcesAt >= 0, 'build stage copies src/');
    assert.ok(buildAt > sourcesAt, 'npm run build runs after src/ is copied');
    const tsconfigCopied = copies(build).some((c) => c.sources.includes('tsconfig.build.json'));
    assert.ok(tsconfigCopied, 'tsconfig.build.json is copied for the build');
  });

  for (const target of ['trainer', ...SERVER_TARGETS]) {
    test(`${target} runs the compiled dist/ and ships no TypeScript sources`, () => {
      const stage = stageByName(stages, target);
      const fromBuild = copies(stage).filter((c) => c.from === 'build');
      assert.ok(
        fromBuild.some((c) => c.sources.includes('/app/dist/')),
        `${target} copies dist/ from the build stage`,
      );
      assert.ok(
        fromBuild.some((c) => c.sources.includes('/app/bin/')),
        `${target} copies bin/`,
      );
      for (const copy of copies(stage)) {
        for (const source of copy.sources) {
          assert.doesNotMatch(source, /(^|\/)(src\/?|tsconfig[\w.]*\.json|[^/]*\.ts)$/, `${target} copies ${source}`);
        }
      }
    });
  }

  test('the dependency stages fail the build when the TypeScript tool chain survives the prune', () => {
    // The stages' own check, run by /bin/sh on small node_modules trees (top level and nested).
    const work = mkdtempSync(path.join(os.tmpdir(), 'bnserve-toolchain-check-'));
    try {
      const tree = (name: string, packages: string[]) => {
        const dir = path.join(work, name);
        for (const p of ['fastify', ...packages]) {
          mkdirSync(path.join(dir, 'node_modules', p), { recursive: true });
          writeFileSync(path.join(dir, 'node_modules', p, 'package.json'), '{}');
        }
        return dir;
      };
      const clean = tree('clean', ['onnxruntime-node', 'a/node_modules/b']);
      // What npm prune leaves of a removed scoped package: its empty scope folder.
      mkdirSync(path.join(clean, 'node_modules', '@esbuild'));
      const polluted = [
        tree('tsx', ['tsx']),
        tree('esbuild', ['esbuild']),
        tree('platform', ['@esbuild/linux-x64']),
        tree('typescript', ['typescript']),
        tree('nested', ['vite-like/node_modules/esbuild']),
      ];
      for (const name of ['trainer-deps', 'server-deps']) {
        const check = runCommands(stageByName(stages, name)).find((c) => /^test -z "\$\(find \S*node_modules /.test(c));
        assert.ok(check, `${name} checks node_modules for the TypeScript tool chain`);
        const status = (cwd: string) => spawnSync('/bin/sh', ['-c', check], { cwd }).status;
        assert.equal(status(clean), 0, `${name}: a clean tree passes`);
        for (const dir of polluted) assert.equal(status(dir), 1, `${name}: ${path.basename(dir)} is caught`);
      }
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  test('installs from the lockfile with npm ci', () => {
    const build = stageByName(stages, 'build');
    assert.ok(
      runCommands(build).some((c) => /^npm ci(\s|$)/.test(c)),
      'build stage runs npm ci',
    );
    const lockCopied = copies(build).some((c) => c.sources.includes('package-lock.json'));
    assert.ok(lockCopied, 'package-lock.json is copied before npm ci');
  });

  for (const target of SERVER_TARGETS) {
    describe(target, () => {
      const config = targetConfig(stages, target);

      test('runs `bnserve serve` as a non-root user', () => {
        assert.deepEqual([...config.entrypoint, ...config.cmd], ['node', 'bin/bnserve.js', 'serve']);
        assert.ok(config.user, 'USER is set');
        const uid = config.user.split(':')[0];
        assert.match(uid, /^\d+$/, 'numeric uid, so that runAsNonRoot can verify it');
        assert.notEqual(Number(uid), 0);
      });

      test('listens on 0.0.0.0:8080, exposes it, stops on SIGTERM', () => {
        assert.equal(config.env.HOST, '0.0.0.0');
        assert.equal(config.env.PORT, '8080');
        assert.ok(config.expose.includes('8080'));
        assert.equal(config.stopsignal, 'SIGTERM');
      });

      test('health check asks /v2/health/ready with node (no curl in the image)', () => {
        assert.ok(config.healthcheck, 'HEALTHCHECK is set');
        const [program, flag, script] = config.healthcheck.command;
        assert.equal(program, 'node');
        assert.equal(flag, '-e');
        assert.ok(script.includes(HEALTH_PATH), script);
        assert.ok(script.includes('process.env.PORT'), 'the check follows PORT');
      });

      test('takes node_modules only from the pruned server dependency stage', () => {
        const stage = stageByName(stages, target);
        const moduleCopies = copies(stage).filter((c) => c.sources.some((s) => s.includes('node_modules')));
        assert.equal(moduleCopies.length, 1, 'exactly one COPY brings node_modules');
        const depsChain = stageChain(stages, moduleCopies[0].from!).map((s) => s.name);
        assert.ok(depsChain.includes('server-deps'), `node_modules come from ${depsChain.join(' → ')}`);
        for (const copy of copies(stage)) {
          for (const source of copy.sources) {
            assert.ok(!['.', './', '/app', '/app/'].includes(source), `COPY ${source} would bring the whole build tree`);
          }
        }
      });
    });
  }

  test('server uses the CPU provider only; server-gpu asks for CUDA first', () => {
    assert.equal(targetConfig(stages, 'server').env.BNSERVE_EXECUTION_PROVIDERS, 'cpu');
    assert.equal(targetConfig(stages, 'server-gpu').env.BNSERVE_EXECUTION_PROVIDERS, 'cuda,cpu');
  });

  test('both server images cap glibc at two malloc arenas (idle RSS; docs/benchmarks.md)', () => {
    for (const target of SERVER_TARGETS) assert.equal(targetConfig(stages, target).env.MALLOC_ARENA_MAX, '2', target);
  });

  test('the GPU dependency stage installs onnxruntime-node with its CUDA 12 provider', () => {
    const gpuDeps = stageChain(stages, 'server-gpu-deps');
    assert.ok(
      gpuDeps.some((s) => s.name === 'server-deps'),
      'server-gpu-deps starts from the tfjs-free set',
    );
    const commands = runCommands(stageByName(stages, 'server-gpu-deps'));
    assert.ok(
      commands.some((c) => /^ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js\b/.test(c)),
      commands.join('\n'),
    );
  });

  test('the trainer runs `bnserve train` as a non-root user', () => {
    const config = targetConfig(stages, 'trainer');
    assert.deepEqual(config.entrypoint, ['node', 'bin/bnserve.js']);
    assert.equal(config.cmd[0], 'train');
    assert.match(config.user ?? '', /^[1-9]\d*(:\d+)?$/);
  });

  test('every file copied from the build context exists and is not excluded by .dockerignore', () => {
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#') && !l.startsWith('!'));
    for (const stage of stages) {
      for (const copy of copies(stage).filter((c) => c.from === null)) {
        for (const source of copy.sources) {
          const clean = source.replace(/\/$/, '');
          assert.ok(existsSync(path.join(root, clean)), `COPY ${source} (stage ${stage.name}): not in the repository`);
          for (const pattern of ignored) {
            const excluded = dockerignoreRegExp(pattern);
            const hit = clean.split('/').some((_, i, parts) => excluded.test(parts.slice(0, i + 1).join('/')));
            assert.ok(!hit, `COPY ${source} is excluded by .dockerignore pattern ${pattern}`);
          }
        }
      }
    }
  });
});
