// Checks deploy/kubernetes (Kustomize base, cpu/gpu overlays, training Job template, Prometheus
// adapter rule) and deploy/kserve offline: every object against its schema (kubernetes-models for
// Kubernetes kinds, ajv with KServe's vendored CRD schemas), and the settings the server relies on.
// Overlays are rendered with `kubectl kustomize` (offline); without kubectl those checks are skipped
// visibly and only the plain YAML files are checked.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { PENDING_REQUESTS_METRIC } from '../../src/serve/dataplane/metrics.ts';
import { serveConfigFromEnv } from '../../src/serve/config.ts';
import { kserveValidator, kubernetesProblems, type K8sObject } from './kubernetes-schemas.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const k8sDir = path.join(root, 'deploy', 'kubernetes');
const kserveDir = path.join(root, 'deploy', 'kserve');
const SERVER_IMAGES = { cpu: 'bnserve/server', gpu: 'bnserve/server-gpu' } as const;

function readObjects(file: string): K8sObject[] {
  return parseObjects(readFileSync(file, 'utf8'));
}

function parseObjects(text: string): K8sObject[] {
  return YAML.parseAllDocuments(text)
    .map((doc) => doc.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml')
    .map((f) => path.join(dir, f));
}

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const noKubectl = kubectl.error || kubectl.status !== 0 ? 'kubectl is not installed: Kustomize overlays not rendered or checked' : false;

function render(dir: string): K8sObject[] {
  return parseObjects(execFileSync('kubectl', ['kustomize', dir], { cwd: root, encoding: 'utf8' }));
}

function find(objects: K8sObject[], kind: string, name: string): any {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  assert.ok(found, `${kind}/${name} is rendered`);
  return found;
}

function envOf(container: any): Record<string, string> {
  return Object.fromEntries((container.env ?? []).filter((e: any) => e.value !== undefined).map((e: any) => [e.name, e.value]));
}

function secretEnv(container: any, name: string): { name: string; key: string } | undefined {
  return container.env?.find((e: any) => e.name === name)?.valueFrom?.secretKeyRef;
}

function mountAt(podSpec: any, container: any, mountPath: string): { mount: any; volume: any } | undefined {
  const mount = container.volumeMounts?.find((m: any) => m.mountPath === mountPath);
  if (!mount) return undefined;
  return { mount, volume: podSpec.volumes?.find((v: any) => v.name === mount.name) };
}

/** Seconds a `sleep N` preStop exec hook (or the native sleep action) waits. */
function preStopSeconds(container: any): number {
  const hook = container.lifecycle?.preStop;
  if (hook?.sleep) return hook.sleep.seconds;
  const command: string[] = hook?.exec?.command ?? [];
  assert.equal(command[0], 'sleep', `preStop is a sleep: ${JSON.stringify(hook)}`);
  return Number(command[1]);
}

function assertLocked(podSpec: any, container: any, who: string): void {
  const nonRoot = container.securityContext?.runAsNonRoot ?? podSpec.securityContext?.runAsNonRoot;
  assert.equal(nonRoot, true, `${who}: runAsNonRoot`);
  const uid = container.securityContext?.runAsUser ?? podSpec.securityContext?.runAsUser;
  assert.ok(uid === undefined || uid > 0, `${who}: runAsUser ${uid} is not root`);
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true, `${who}: readOnlyRootFilesystem`);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false, `${who}: allowPrivilegeEscalation`);
  assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL'], `${who}: drops all capabilities`);
}

/** With a read-only root filesystem, the process's temp folder must be a volume. */
function assertWritableTmp(podSpec: any, container: any, who: string): void {
  const tmp = mountAt(podSpec, container, '/tmp');
  assert.ok(tmp?.volume?.emptyDir, `${who}: /tmp is an emptyDir (the root filesystem is read-only)`);
  assert.notEqual(tmp.mount.readOnly, true, `${who}: /tmp is writable`);
}

describe('Kubernetes manifest files', () => {
  const files = [...yamlFiles(path.join(k8sDir, 'base')), ...yamlFiles(path.join(k8sDir, 'jobs'))];

  test('every object in base/ and jobs/ is a known kind and valid against the Kubernetes schemas', () => {
    assert.ok(files.length >= 7, files.join(', '));
    for (const file of files) {
      for (const object of readObjects(file)) {
        assert.deepEqual(kubernetesProblems(object), [], `${path.relative(root, file)}: ${object.kind}/${object.metadata?.name}`);
      }
    }
  });

  test('the validator fails on an unknown kind and on a wrongly typed field', () => {
    assert.match(kubernetesProblems({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })[0], /unknown kind/);
    const job = structuredClone(readObjects(path.join(k8sDir, 'base', 'migrate-job.yaml'))[0]) as any;
    job.spec.backoffLimit = 'four';
    assert.match(kubernetesProblems(job).join('\n'), /backoffLimit must be integer/);
  });

  test('the training Job template runs `bnserve train` in the trainer image against the shared registry and artifacts', () => {
    const [job] = readObjects(path.join(k8sDir, 'jobs', 'train-job.yaml')) as any[];
    assert.equal(job.kind, 'Job');
    assert.ok(job.metadata.generateName, 'one Job per run: generateName, for `kubectl create`');
    const pod = job.spec.template.spec;
    const [container] = pod.containers;
    assert.match(container.image, /^bnserve\/trainer(:|$)/);
    assert.deepEqual(container.args.slice(0, 2), ['train', '--config']);
    assert.deepEqual(secretEnv(container, 'DATABASE_URL'), { name: 'bnserve-db', key: 'DATABASE_URL' });
    const artifacts = mountAt(pod, container, envOf(container).BNSERVE_ARTIFACTS);
    assert.equal(artifacts?.volume?.persistentVolumeClaim?.claimName, 'bnserve-artifacts');
    assert.notEqual(artifacts?.mount.readOnly, true, 'the trainer writes the artifact store');
    const config = mountAt(pod, container, path.dirname(container.args[2]));
    assert.ok(config?.volume?.configMap, `--config ${container.args[2]} comes from a ConfigMap`);
    assertLocked(pod, container, 'train');
    assertWritableTmp(pod, container, 'train');
  });

  test('the Prometheus adapter rule serves the server gauge under its own name', () => {
    const values = YAML.parse(readFileSync(path.join(k8sDir, 'prometheus-adapter', 'values.yaml'), 'utf8'));
    const rules = values.rules.custom.filter((r: any) => r.seriesQuery.startsWith(`${PENDING_REQUESTS_METRIC}{`));
    assert.equal(rules.length, 1, 'one rule for the pending-requests gauge');
    const [rule] = rules;
    assert.equal(rule.name.as, PENDING_REQUESTS_METRIC);
    assert.ok(new RegExp(rule.name.matches).test(PENDING_REQUESTS_METRIC));
    assert.deepEqual(rule.resources.overrides, { namespace: { resource: 'namespace' }, pod: { resource: 'pod' } });
    assert.match(rule.metricsQuery, /<<\.LabelMatchers>>/, 'the HPA selector (e.g. model=iris) reaches the query');
  });
});

describe('KServe resources', () => {
  const validate = kserveValidator();
  const [runtime] = readObjects(path.join(kserveDir, 'servingruntime.yaml')) as any[];
  const [isvc] = readObjects(path.join(kserveDir, 'inferenceservice.yaml')) as any[];
  const [canary] = readObjects(path.join(kserveDir, 'inferenceservice-canary.yaml')) as any[];

  test('ServingRuntime and InferenceServices are valid against the vendored CRD schemas', () => {
    for (const object of [runtime, isvc, canary]) assert.deepEqual(validate(object), [], `${object.kind}/${object.metadata.name}`);
  });

  test('the CRD validator refuses unknown fields, wrong types and unknown kinds', () => {
    const typo = structuredClone(canary);
    typo.spec.predictor.canaryTrafficPercentage = 10;
    assert.match(validate(typo).join('\n'), /must NOT have additional properties.*canaryTrafficPercentage/);
    const wrongType = structuredClone(canary);
    wrongType.spec.predictor.canaryTrafficPercent = 'ten';
    assert.match(validate(wrongType).join('\n'), /canaryTrafficPercent must be integer/);
    const badMetric = structuredClone(isvc);
    badMetric.spec.predictor.scaleMetric = 'pending';
    assert.match(validate(badMetric).join('\n'), /scaleMetric must be equal to one of the allowed values/);
    assert.match(validate({ apiVersion: 'serving.kserve.io/v1beta1', kind: 'Widget' }).join('\n'), /no vendored schema/);
  });

  test('the ServingRuntime serves onnx over protocol v2 from the server image, ready per model', () => {
    assert.ok(runtime.spec.supportedModelFormats.some((f: any) => f.name === 'onnx'));
    assert.ok(runtime.spec.protocolVersions.includes('v2'));
    const [container] = runtime.spec.containers;
    assert.equal(container.name, 'kserve-container');
    assert.match(container.image, /^bnserve\/server(:|$)/);
    assert.equal(container.args[0], 'serve');
    assert.equal(container.readinessProbe.httpGet.path, '/v2/models/{{.Name}}/ready');
    assert.equal(container.livenessProbe.httpGet.path, '/v2/health/live');
    const env = envOf(container);
    assert.equal(env.BNSERVE_ARTIFACTS, '/mnt/models', 'KServe mounts storageUri at /mnt/models');
    assert.equal(env.HOST, '0.0.0.0');
    assert.equal(Number(env.PORT), container.ports[0].containerPort);
    assert.deepEqual(secretEnv(container, 'DATABASE_URL'), { name: 'bnserve-db', key: 'DATABASE_URL' });
    assert.equal(container.securityContext.runAsNonRoot, true);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    serveConfigFromEnv(env);
  });

  test('the InferenceService uses the runtime, the artifact volume, autoscaling settings and an alias', () => {
    for (const object of [isvc, canary]) {
      const predictor = object.spec.predictor;
      assert.equal(predictor.model.runtime, runtime.metadata.name);
      assert.equal(predictor.model.modelFormat.name, 'onnx');
      assert.equal(predictor.model.protocolVersion, 'v2');
      assert.equal(predictor.model.storageUri, 'pvc://bnserve-artifacts');
      assert.ok(predictor.minReplicas >= 1);
      assert.ok(predictor.scaleMetric && predictor.scaleTarget > 0);
      assert.ok(envOf(predictor.model).BNSERVE_DEFAULT_ALIAS, 'the predictor names the registry alias it serves');
    }
  });

  test('the canary is the same InferenceService on another alias with part of the traffic', () => {
    assert.equal(canary.metadata.name, isvc.metadata.name);
    assert.equal(isvc.spec.predictor.canaryTrafficPercent, undefined);
    const percent = canary.spec.predictor.canaryTrafficPercent;
    assert.ok(percent > 0 && percent < 100, `canaryTrafficPercent ${percent}`);
    assert.equal(envOf(isvc.spec.predictor.model).BNSERVE_DEFAULT_ALIAS, 'production');
    assert.equal(envOf(canary.spec.predictor.model).BNSERVE_DEFAULT_ALIAS, 'candidate');
  });
});

describe('Kustomize overlays', { skip: noKubectl }, () => {
  const drainMsOf = (container: any) => serveConfigFromEnv(envOf(container)).timeouts.shutdownMs;

  for (const variant of ['base', 'cpu', 'gpu'] as const) {
    describe(variant, () => {
      const objects = noKubectl ? [] : render(path.join(k8sDir, variant === 'base' ? 'base' : `overlays/${variant}`));
      const deployment = () => find(objects, 'Deployment', 'bnserve-server');
      const pod = () => deployment().spec.template.spec;
      const server = () => pod().containers.find((c: any) => c.name === 'server');

      test('renders only known kinds, each valid against the Kubernetes schemas', () => {
        assert.deepEqual(objects.map((o) => o.kind).sort(), [
          'Deployment',
          'HorizontalPodAutoscaler',
          'Job',
          'PersistentVolumeClaim',
          'PersistentVolumeClaim',
          'PodDisruptionBudget',
          'Service',
        ]);
        for (const object of objects) assert.deepEqual(kubernetesProblems(object), [], `${object.kind}/${object.metadata?.name}`);
      });

      test('probes: startup and liveness on /v2/health/live, readiness on /v2/health/ready, on the http port', () => {
        const c = server();
        assert.equal(c.livenessProbe?.httpGet?.path, '/v2/health/live');
        assert.equal(c.startupProbe?.httpGet?.path, '/v2/health/live');
        assert.equal(c.readinessProbe?.httpGet?.path, '/v2/health/ready');
        const http = c.ports.find((p: any) => p.name === 'http');
        assert.equal(http?.containerPort, Number(envOf(c).PORT));
        for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) assert.equal(probe.httpGet.port, 'http');
      });

      test('terminationGracePeriodSeconds exceeds the preStop sleep plus the server drain (BNSERVE_SHUTDOWN_TIMEOUT_MS)', () => {
        const grace = pod().terminationGracePeriodSeconds;
        const preStop = preStopSeconds(server());
        const drainSeconds = drainMsOf(server()) / 1000;
        assert.ok(preStop >= 5, `preStop sleeps ${preStop} s: long enough for endpoints to drop the pod`);
        assert.ok(grace > preStop + drainSeconds, `grace ${grace} s > preStop ${preStop} s + drain ${drainSeconds} s`);
      });

      test('runs as non-root with a read-only root filesystem, a writable /tmp and read-only artifacts', () => {
        assertLocked(pod(), server(), 'server');
        assertWritableTmp(pod(), server(), 'server');
        const artifacts = mountAt(pod(), server(), envOf(server()).BNSERVE_ARTIFACTS);
        assert.equal(artifacts?.mount.readOnly, true);
        assert.equal(artifacts?.volume?.persistentVolumeClaim?.claimName, 'bnserve-artifacts');
        const claim = find(objects, 'PersistentVolumeClaim', 'bnserve-artifacts');
        assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany']);
        assert.equal(pod().automountServiceAccountToken, false);
      });

      test('the registry comes from the bnserve-db Secret; the admin token is optional', () => {
        assert.deepEqual(secretEnv(server(), 'DATABASE_URL'), { name: 'bnserve-db', key: 'DATABASE_URL' });
        assert.equal(secretEnv(server(), 'BNSERVE_ADMIN_TOKEN')?.name, 'bnserve-admin');
        assert.equal((secretEnv(server(), 'BNSERVE_ADMIN_TOKEN') as any)?.optional, true);
        serveConfigFromEnv(envOf(server())); // every literal serving setting is one the server accepts
      });

      test('resources are requested and limited', () => {
        const { requests, limits } = server().resources;
        assert.ok(requests.cpu && requests.memory && limits.memory, JSON.stringify(server().resources));
      });

      test('the Service exposes HTTP 8080 and gRPC 8081 on the named container ports', () => {
        const service = find(objects, 'Service', 'bnserve-server');
        const labels = deployment().spec.template.metadata.labels;
        for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v, `selector ${k}`);
        const containerPorts = Object.fromEntries(server().ports.map((p: any) => [p.name, p.containerPort]));
        assert.deepEqual(containerPorts, { http: 8080, grpc: 8081 });
        assert.equal(envOf(server()).BNSERVE_GRPC_PORT, '8081');
        const ports = Object.fromEntries(service.spec.ports.map((p: any) => [p.name, [p.port, p.targetPort]]));
        assert.deepEqual(ports, { http: [8080, 'http'], grpc: [8081, 'grpc'] });
      });

      test('the PodDisruptionBudget covers the server pods', () => {
        const pdb = find(objects, 'PodDisruptionBudget', 'bnserve-server');
        const labels = deployment().spec.template.metadata.labels;
        for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v, `selector ${k}`);
        const hpa = find(objects, 'HorizontalPodAutoscaler', 'bnserve-server');
        assert.ok(hpa.spec.minReplicas >= 2, 'a PDB with one replica would still allow an outage');
      });

      test(`the HPA scales the Deployment on ${PENDING_REQUESTS_METRIC}, the name the server exports`, () => {
        const hpa = find(objects, 'HorizontalPodAutoscaler', 'bnserve-server');
        assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'bnserve-server' });
        const pods = hpa.spec.metrics.filter((m: any) => m.type === 'Pods');
        assert.deepEqual(
          pods.map((m: any) => m.pods.metric.name),
          [PENDING_REQUESTS_METRIC],
        );
        assert.equal(pods[0].pods.target.type, 'AverageValue');
        assert.equal(deployment().spec.replicas, undefined, 'replicas belong to the HPA');
        const cpu = hpa.spec.metrics.filter((m: any) => m.type === 'Resource' && m.resource.name === 'cpu');
        assert.equal(cpu.length, variant === 'gpu' ? 0 : 1, 'CPU utilization is a signal on CPU servers only');
      });

      test('the migration Job runs `bnserve migrate` from the CPU server image', () => {
        const job = find(objects, 'Job', 'bnserve-migrate');
        const jobPod = job.spec.template.spec;
        const [container] = jobPod.containers;
        assert.equal(container.args[0], 'migrate');
        assert.match(container.image, new RegExp(`^${SERVER_IMAGES.cpu}(:|$)`));
        assert.deepEqual(secretEnv(container, 'DATABASE_URL'), { name: 'bnserve-db', key: 'DATABASE_URL' });
        assert.equal(jobPod.restartPolicy, 'Never');
        assertLocked(jobPod, container, 'migrate');
        assertWritableTmp(jobPod, container, 'migrate');
      });

      if (variant !== 'base') {
        test(`${variant}: image and execution providers`, () => {
          const c = server();
          assert.match(c.image, new RegExp(`^${SERVER_IMAGES[variant]}(:|@|$)`));
          assert.equal(envOf(c).BNSERVE_EXECUTION_PROVIDERS, variant === 'gpu' ? 'cuda,cpu' : 'cpu');
          const gpus = c.resources.limits['nvidia.com/gpu'];
          if (variant === 'gpu') {
            assert.equal(Number(gpus), 1, 'one GPU per pod');
            assert.ok(pod().tolerations?.some((t: any) => t.key === 'nvidia.com/gpu'));
          } else {
            assert.equal(gpus, undefined);
          }
        });
      }
    });
  }
});
