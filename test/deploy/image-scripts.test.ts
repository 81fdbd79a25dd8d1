// The image scripts read the Dockerfile and docker-compose.yml instead of repeating them: these checks
// run without podman or images (scripts/ci-containers.sh --images builds and runs the images for real).
//   - scripts/build-images.sh --print-plan: the base it makes offline is the Dockerfile's node-base
//     FROM, under Docker's full name; the targets it builds exist; the tags are the documented ones;
//   - scripts/image-smoke.sh --print-compose: the environment, volumes and commands it runs each service
//     with are the compose file's, and its two readers (docker-compose config; node + yaml where
//     docker-compose is missing) agree.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { readStages, targetConfig } from './dockerfile.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const stages = readStages(readFileSync(path.join(root, 'Dockerfile'), 'utf8'));
const BUILD = path.join(root, 'scripts', 'build-images.sh');
const SMOKE = path.join(root, 'scripts', 'image-smoke.sh');

interface ComposeService {
  target: string | null;
  command: string[] | null;
  environment: Record<string, string>;
  volumes: string[];
  stop_grace_period: string | null;
}

function bash(script: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync('bash', [script, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  assert.equal(result.status, 0, `${path.basename(script)} ${args.join(' ')}:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

function composeServices(reader?: 'node'): Record<string, ComposeService> {
  const out = bash(SMOKE, ['--print-compose'], reader ? { BNSERVE_SMOKE_COMPOSE_READER: reader } : { BNSERVE_SMOKE_COMPOSE_READER: '' });
  const line = out.split('\n').find((l) => l.startsWith('COMPOSE '));
  assert.ok(line, out);
  return JSON.parse(line.slice('COMPOSE '.length));
}

const hasDockerCompose =
  spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0 &&
  spawnSync('/usr/bin/python3', ['-c', 'import yaml'], { encoding: 'utf8' }).status === 0;

describe('image scripts', () => {
  test('both scripts parse', () => {
    for (const script of [BUILD, SMOKE]) {
      const check = spawnSync('bash', ['-n', script], { encoding: 'utf8' });
      assert.equal(check.status, 0, `${script}: ${check.stderr}`);
    }
  });

  test('build-images.sh makes the Dockerfile’s Node base and builds the documented targets and tags', () => {
    const plan = Object.fromEntries(
      bash(BUILD, ['--print-plan'])
        .split('\n')
        .filter((l) => l.startsWith('plan: '))
        .flatMap((l) => l.slice('plan: '.length).split(' '))
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
    const base = targetConfig(stages, 'server').baseImage;
    assert.equal(targetConfig(stages, 'trainer').baseImage, base, 'trainer and server share the Node base');
    assert.equal(plan.base, `docker.io/library/${base}`);
    assert.equal(plan.node, /^node:(\d+\.\d+\.\d+)-/.exec(base)?.[1]);
    assert.equal(plan.suite, /-([a-z]+)-slim$/.exec(base)?.[1]);
    assert.deepEqual(
      Object.entries(plan).filter(([k]) => k.startsWith('tag.')),
      [
        ['tag.trainer', 'bnserve-trainer:local'],
        ['tag.server', 'bnserve-server:local'],
      ],
    );
    const names = stages.map((s) => s.name);
    for (const target of ['trainer', 'server']) assert.ok(names.includes(target), `Dockerfile target ${target}`);
  });

  test('image-smoke.sh runs migrate, trainer and server with the compose file’s images, environment and volumes', () => {
    const services = composeServices('node');
    assert.equal(services.migrate.target, 'server');
    assert.deepEqual(services.migrate.command, ['migrate']);
    assert.equal(services.trainer.target, 'trainer');
    assert.equal(services.server.target, 'server');
    for (const name of ['migrate', 'trainer', 'server'] as const) {
      const env = services[name].environment;
      // POSTGRES_USER/POSTGRES_DB are set for the stand-in database; the host stays compose's `postgres`.
      assert.match(env.DATABASE_URL, /^postgresql:\/\/postgres:[^@]*@postgres:5432\/<database>$/, `${name} DATABASE_URL`);
      assert.equal(env.BNSERVE_ARTIFACTS, '/data/artifacts', `${name} BNSERVE_ARTIFACTS`);
    }
    assert.equal(services.server.environment.BNSERVE_EXECUTION_PROVIDERS, 'cpu');
    assert.ok(
      services.server.volumes.some((v) => /^\w+:\/data\/artifacts:ro$/.test(v)),
      services.server.volumes.join(' '),
    );
    assert.ok(
      services.trainer.volumes.some((v) => /^\w+:\/data\/artifacts$/.test(v)),
      services.trainer.volumes.join(' '),
    );
  });

  test('its node + yaml reader resolves the compose file as docker-compose does', {
    skip: !hasDockerCompose && 'docker-compose (with PyYAML) is not installed',
  }, () => {
    assert.deepEqual(composeServices('node'), composeServices());
  });
});
