// Reads docker-compose.yml the way Compose resolves it (`docker-compose config`, offline, v1.29 from
// Debian; scripts/ci-containers.sh installs it) and checks the deployment topology.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { readStages } from './dockerfile.ts';

const root = path.resolve(import.meta.dirname, '..', '..');

interface Service {
  image?: string;
  build?: { context: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: Array<{ published: number | string; target: number | string }>;
  depends_on?: Record<string, { condition: string }>;
  profiles?: string[];
  healthcheck?: { test: string[] };
  restart?: string;
  deploy?: { resources?: { reservations?: { devices?: Array<{ driver?: string; count?: number | string; capabilities?: string[] }> } } };
}

function resolvedCompose(): { services: Record<string, Service>; volumes: Record<string, unknown> } | null {
  const probe = spawnSync('docker-compose', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return null;
  // A clean environment so that defaults (not the caller's shell) decide the values.
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const yaml = execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config'], { cwd: root, env, encoding: 'utf8' });
  // PyYAML comes with docker-compose; it turns the resolved file into JSON for us.
  const json = execFileSync('/usr/bin/python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], {
    input: yaml,
    encoding: 'utf8',
  });
  return JSON.parse(json);
}

function mount(service: Service, target: string): { source: string; readOnly: boolean } | undefined {
  for (const spec of service.volumes ?? []) {
    const [source, at, mode = 'rw'] = spec.split(':');
    if (at === target) return { source, readOnly: mode.split(',').includes('ro') };
  }
  return undefined;
}

const compose = resolvedCompose();
const skip = compose ? false : 'docker-compose is not installed (scripts/ci-containers.sh installs it): compose checks skipped';

describe('docker-compose.yml', { skip }, () => {
  const services = compose?.services ?? {};
  const stageNames = readStages(readFileSync(path.join(root, 'Dockerfile'), 'utf8')).map((s) => s.name);
  const service = (name: string): Service => {
    assert.ok(services[name], `service ${name} is defined`);
    return services[name];
  };

  test('defines postgres, migrate, server, trainer and server-gpu, built from Dockerfile targets', () => {
    assert.deepEqual(Object.keys(services).sort(), ['migrate', 'postgres', 'server', 'server-gpu', 'trainer']);
    for (const [name, s] of Object.entries(services)) {
      if (s.build) assert.ok(stageNames.includes(s.build.target ?? null), `${name}: build target ${s.build.target} is a Dockerfile stage`);
    }
  });

  test('postgres keeps its data in a volume, has a health check and a pinned image', () => {
    const postgres = service('postgres');
    assert.match(postgres.image ?? '', /^postgres:\d+\.\d+/);
    const data = mount(postgres, '/var/lib/postgresql/data');
    assert.ok(data && data.source in (compose?.volumes ?? {}), 'named volume for /var/lib/postgresql/data');
    assert.ok(postgres.healthcheck?.test.join(' ').includes('pg_isready'));
  });

  test('migrate runs `bnserve migrate` once from the server image after postgres is healthy', () => {
    const migrate = service('migrate');
    assert.deepEqual(migrate.command, ['migrate']);
    assert.equal(migrate.build?.target, 'server');
    assert.equal(migrate.image, service('server').image);
    assert.equal(migrate.depends_on?.postgres?.condition, 'service_healthy');
    assert.equal(migrate.restart, 'no');
  });

  for (const [name, target, providers, profile] of [
    ['server', 'server', 'cpu', undefined],
    ['server-gpu', 'server-gpu', 'cuda,cpu', 'gpu'],
  ] as const) {
    test(`${name} waits for healthy postgres and finished migrations, reads artifacts read-only`, () => {
      const s = service(name);
      assert.equal(s.build?.target, target);
      assert.deepEqual(s.profiles, profile ? [profile] : undefined);
      assert.equal(s.depends_on?.postgres?.condition, 'service_healthy');
      assert.equal(s.depends_on?.migrate?.condition, 'service_completed_successfully');
      const artifacts = mount(s, s.environment?.BNSERVE_ARTIFACTS ?? '');
      assert.ok(artifacts, `${name} mounts a volume at BNSERVE_ARTIFACTS`);
      assert.equal(artifacts.readOnly, true);
      assert.equal(artifacts.source, mount(service('trainer'), service('trainer').environment?.BNSERVE_ARTIFACTS ?? '')?.source);
      assert.equal(s.environment?.BNSERVE_EXECUTION_PROVIDERS, providers);
      assert.ok(
        s.ports?.some((p) => Number(p.target) === 8080),
        `${name} publishes container port 8080`,
      );
    });
  }

  test('server publishes 8080 by default', () => {
    assert.ok(service('server').ports?.some((p) => Number(p.published) === 8080 && Number(p.target) === 8080));
  });

  test('server-gpu reserves an NVIDIA GPU', () => {
    const devices = service('server-gpu').deploy?.resources?.reservations?.devices ?? [];
    assert.ok(
      devices.some((d) => d.driver === 'nvidia' && d.capabilities?.includes('gpu')),
      JSON.stringify(devices),
    );
  });

  test('trainer is a one-off job profile that writes the shared artifact volume', () => {
    const trainer = service('trainer');
    assert.deepEqual(trainer.profiles, ['train']);
    assert.equal(trainer.build?.target, 'trainer');
    assert.equal(trainer.restart, 'no');
    assert.equal(trainer.depends_on?.migrate?.condition, 'service_completed_successfully');
    const artifacts = mount(trainer, trainer.environment?.BNSERVE_ARTIFACTS ?? '');
    assert.ok(artifacts && !artifacts.readOnly, 'trainer mounts the artifact volume read-write');
  });

  test('every bnserve service uses the same registry database on the postgres service', () => {
    const urls = ['migrate', 'server', 'server-gpu', 'trainer'].map((n) => service(n).environment?.DATABASE_URL);
    assert.equal(new Set(urls).size, 1, urls.join(' | '));
    assert.match(urls[0] ?? '', /^postgresql:\/\/[^@]+@postgres:5432\/\w+$/);
  });
});
