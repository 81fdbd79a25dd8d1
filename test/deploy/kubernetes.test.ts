// Checks deploy/kubernetes (Kustomize base, cpu/gpu overlays, Job templates, Prometheus adapter values)
// and deploy/kserve offline: every object against its schema (kubernetes-models for Kubernetes kinds,
// ajv with KServe's vendored CRD schemas), the admission rules a cluster would apply (Knative's
// validation of KServe's Knative-mode pods, the "restricted" Pod Security Standard: pod-rules.ts), and
// the settings the server relies on. Overlays are rendered with `kubectl kustomize` (offline): the
// shipped ones must refuse to render until their storage class is set, then copies with the settings
// filled in are rendered and checked. Without kubectl those checks are skipped visibly.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import YAML from 'yaml';
import { PENDING_REQUESTS_METRIC } from '../../src/serve/dataplane/metrics.ts';
import { serveConfigFromEnv } from '../../src/serve/config.ts';
import { readSettings, SETTINGS, type SettingName } from '../../src/settings.ts';
import { kserveValidator, kubernetesProblems, type K8sObject } from './kubernetes-schemas.ts';
import { cpuCores, knativeContainerProblems, knativePodProblems, restrictedProblems } from './pod-rules.ts';

const root = path.resolve(import.meta.dirname, '..', '..');
const k8sDir = path.join(root, 'deploy', 'kubernetes');
const kserveDir = path.join(root, 'deploy', 'kserve');
const SERVER_IMAGES = { cpu: 'bnserve/server', gpu: 'bnserve/server-gpu' } as const;
/** Startup probes give a registry with a few large models this long to load and warm up. */
const MIN_STARTUP_SECONDS = 600;

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

/** Every YAML file under deploy/ (recursively), kustomizations and Helm values included. */
function deployYamlFiles(dir = path.join(root, 'deploy')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return deployYamlFiles(full);
    return e.name.endsWith('.yaml') ? [full] : [];
  });
}

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
const noKubectl = kubectl.error || kubectl.status !== 0 ? 'kubectl is not installed: Kustomize overlays not rendered or checked' : false;

function kustomize(dir: string) {
  return spawnSync('kubectl', ['kustomize', dir], { cwd: root, encoding: 'utf8' });
}

function render(dir: string): K8sObject[] {
  return parseObjects(execFileSync('kubectl', ['kustomize', dir], { cwd: root, encoding: 'utf8' }));
}

const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/**
 * Renders a copy of deploy/kubernetes with an overlay's cluster settings (the bnserve-cluster
 * literals that components/cluster-settings reads) replaced by `settings`.
 */
function renderConfigured(variant: string, settings: Record<string, string>): K8sObject[] {
  const copy = mkdtempSync(path.join(os.tmpdir(), 'bnserve-k8s-'));
  tempDirs.push(copy);
  cpSync(k8sDir, copy, { recursive: true });
  const file = path.join(copy, 'overlays', variant, 'kustomization.yaml');
  const kustomization = YAML.parse(readFileSync(file, 'utf8'));
  const generator = kustomization.configMapGenerator?.find((g: any) => g.name === 'bnserve-cluster');
  assert.ok(generator, `overlays/${variant} generates the bnserve-cluster settings`);
  generator.literals = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  writeFileSync(file, YAML.stringify(kustomization));
  return render(path.join(copy, 'overlays', variant));
}

/** The literals an overlay ships in its bnserve-cluster settings (commented-out lines are not there). */
function shippedSettings(variant: string): Record<string, string> {
  const kustomization = YAML.parse(readFileSync(path.join(k8sDir, 'overlays', variant, 'kustomization.yaml'), 'utf8'));
  const generator = kustomization.configMapGenerator?.find((g: any) => g.name === 'bnserve-cluster');
  return Object.fromEntries((generator?.literals ?? []).map((l: string) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

function find(objects: K8sObject[], kind: string, name: string | RegExp): any {
  const found = objects.find(
    (o) => o.kind === kind && (typeof name === 'string' ? o.metadata?.name === name : name.test(o.metadata?.name ?? '')),
  );
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

/** The longest a startup probe lets a container start before the kubelet restarts it. */
function startupBudgetSeconds(probe: any): number {
  return (probe.initialDelaySeconds ?? 0) + (probe.periodSeconds ?? 10) * (probe.failureThreshold ?? 3);
}

function assertLocked(podSpec: any, container: any, who: string): void {
  const nonRoot = container.securityContext?.runAsNonRoot ?? podSpec.securityContext?.runAsNonRoot;
  assert.equal(nonRoot, true, `${who}: runAsNonRoot`);
  const uid = container.securityContext?.runAsUser ?? podSpec.securityContext?.runAsUser;
  assert.ok(uid === undefined || uid > 0, `${who}: runAsUser ${uid} is not root`);
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true, `${who}: readOnlyRootFilesystem`);
  assert.equal(container.securityContext?.allowPrivilegeEscalation, false, `${who}: allowPrivilegeEscalation`);
  assert.deepEqual(container.securityContext?.capabilities?.drop, ['ALL'], `${who}: drops all capabilities`);
  assert.deepEqual(restrictedProblems(podSpec), [], `${who}: admitted under the "restricted" Pod Security Standard`);
}

/** With a read-only root filesystem, the process's temp folder must be a volume. */
function assertWritableTmp(podSpec: any, container: any, who: string): void {
  const tmp = mountAt(podSpec, container, '/tmp');
  assert.ok(tmp?.volume?.emptyDir, `${who}: /tmp is an emptyDir (the root filesystem is read-only)`);
  assert.notEqual(tmp.mount.readOnly, true, `${who}: /tmp is writable`);
}

/**
 * onnxruntime's intra-op threads follow the container's CPU limit, not the node's cores, and idle
 * threads do not spin: BNSERVE_INTRA_OP_THREADS is the limit (rounded up, as the Downward API rounds
 * it), literally or through resourceFieldRef limits.cpu of this container; BNSERVE_ORT_SPINNING is off.
 */
function assertThreadsFollowCpuLimit(container: any, who: string): void {
  const limit = cpuCores(container.resources?.limits?.cpu);
  assert.ok(limit, `${who}: a CPU limit is set (without one, limits.cpu is the node's allocatable CPU)`);
  const threads = container.env?.find((e: any) => e.name === 'BNSERVE_INTRA_OP_THREADS');
  assert.ok(threads, `${who}: BNSERVE_INTRA_OP_THREADS is set (onnxruntime would size its pool to the node's cores)`);
  const ref = threads.valueFrom?.resourceFieldRef;
  if (ref) {
    assert.equal(ref.resource, 'limits.cpu', `${who}: threads from limits.cpu`);
    assert.ok(ref.containerName === undefined || ref.containerName === container.name, `${who}: from this container's limit`);
    assert.ok(ref.divisor === undefined || cpuCores(ref.divisor) === 1, `${who}: divisor 1 (whole cores)`);
  } else {
    assert.equal(Number(threads.value), Math.ceil(limit), `${who}: BNSERVE_INTRA_OP_THREADS ${threads.value} = CPU limit ${limit}`);
  }
  const spinning = readSettings(['BNSERVE_ORT_SPINNING'], envOf(container)).BNSERVE_ORT_SPINNING;
  assert.equal(spinning, 'off', `${who}: BNSERVE_ORT_SPINNING is off`);
}

describe('Kubernetes manifest files', () => {
  const files = [...yamlFiles(path.join(k8sDir, 'base')), ...yamlFiles(path.join(k8sDir, 'jobs'))];

  test('every object in base/ and jobs/ is a known kind and valid against the Kubernetes schemas', () => {
    assert.ok(files.length >= 8, files.join(', '));
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

  test('the pod rules refuse what Knative and the "restricted" profile refuse', () => {
    const container = { name: 'c', env: [{ name: 'PORT', value: '8080' }], lifecycle: { preStop: { sleep: { seconds: 1 } } } };
    assert.deepEqual(knativeContainerProblems(container), [
      'container field lifecycle is not allowed by Knative',
      '"PORT" is a reserved environment variable',
    ]);
    const threads = { name: 'c', env: [{ name: 'T', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } }] };
    assert.match(knativeContainerProblems(threads).join('\n'), /podspec-fieldref/);
    assert.match(knativePodProblems({ securityContext: {}, tolerations: [] }).join('\n'), /securityContext.*\n.*tolerations/);
    const locked = { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
    assert.match(restrictedProblems({ containers: [{ name: 'c', securityContext: locked }] }).join('\n'), /seccompProfile is unset/);
    assert.deepEqual(
      restrictedProblems({ containers: [{ name: 'c', securityContext: { ...locked, seccompProfile: { type: 'RuntimeDefault' } } }] }),
      [],
    );
  });

  test('every BNSERVE_* value in deploy/ is a setting the server knows, with a value it accepts', () => {
    const seen = new Set<string>();
    const visit = (node: unknown): void => {
      if (Array.isArray(node)) {
        for (const item of node) visit(item);
        return;
      }
      if (node === null || typeof node !== 'object') return;
      const { name, value } = node as { name?: unknown; value?: unknown };
      if (typeof name === 'string' && name.startsWith('BNSERVE_') && typeof value === 'string') {
        assert.ok(name in SETTINGS, `${name} is a setting (src/settings.ts)`);
        readSettings([name as SettingName], { [name]: value }); // throws on a value it refuses
        seen.add(name);
      }
      for (const value of Object.values(node)) visit(value);
    };
    for (const file of deployYamlFiles()) for (const object of readObjects(file)) visit(object);
    for (const name of ['BNSERVE_MIGRATE_ON_START', 'BNSERVE_STRICT_READINESS', 'BNSERVE_ORT_SPINNING']) assert.ok(seen.has(name), name);
  });

  test('no manifest speaks of tsx: the images run the compiled dist/', () => {
    for (const file of deployYamlFiles()) {
      assert.doesNotMatch(readFileSync(file, 'utf8'), /\btsx\b|TSX_/i, path.relative(root, file));
    }
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

  test('the migration Job template for `kubectl create` is one Job per run with the base Job’s spec', () => {
    const [template] = readObjects(path.join(k8sDir, 'jobs', 'migrate-job.yaml')) as any[];
    const [base] = readObjects(path.join(k8sDir, 'base', 'migrate-job.yaml')) as any[];
    assert.equal(template.metadata.name, undefined);
    assert.equal(template.metadata.generateName, 'bnserve-migrate-');
    assert.deepEqual(template.spec, base.spec, 'jobs/migrate-job.yaml and base/migrate-job.yaml run the same pod');
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

  test('the Prometheus adapter reaches the prometheus chart’s Service on its port (80), not the adapter chart’s default 9090', () => {
    const values = YAML.parse(readFileSync(path.join(k8sDir, 'prometheus-adapter', 'values.yaml'), 'utf8'));
    // prometheus-community/prometheus-adapter: values.yaml defaults, and templates/deployment.yaml's
    // --prometheus-url={{ url }}{{ if port }}:{{ port }}{{ end }}{{ path }}.
    const prometheus = { url: 'http://prometheus.default.svc', port: 9090, path: '', ...values.prometheus };
    const flag = `${prometheus.url}${prometheus.port ? `:${prometheus.port}` : ''}${prometheus.path}`;
    const url = new URL(flag);
    // prometheus-community/prometheus: Service <release>-server, server.service.servicePort 80;
    // the README's install puts it in namespace monitoring as release "prometheus".
    assert.equal(url.hostname, 'prometheus-server.monitoring.svc', flag);
    assert.equal(url.port === '' ? 80 : Number(url.port), 80, `--prometheus-url=${flag}`);
  });
});

describe('KServe resources', () => {
  const validate = kserveValidator();
  const [runtime] = readObjects(path.join(kserveDir, 'servingruntime.yaml')) as any[];
  const isvcFiles = readdirSync(kserveDir).filter((f) => f.startsWith('inferenceservice') && f.endsWith('.yaml'));
  const isvcs = Object.fromEntries(isvcFiles.map((f) => [f, readObjects(path.join(kserveDir, f))[0] as any]));
  const [container] = runtime.spec.containers;
  const mode = (isvc: any) => isvc.metadata.annotations?.['serving.kserve.io/deploymentMode'];
  const isKnative = (isvc: any) => ['Knative', 'Serverless'].includes(mode(isvc));
  /** Predictor fields that are not the pod's (KServe's ComponentExtensionSpec and the model). */
  const EXTENSION_FIELDS = new Set([
    'minReplicas',
    'maxReplicas',
    'scaleMetric',
    'scaleMetricType',
    'scaleTarget',
    'canaryTrafficPercent',
    'containerConcurrency',
    'timeout',
    'logger',
    'batcher',
    'labels',
    'annotations',
    'deploymentStrategy',
    'autoScaling',
    'storageUris',
    'storageContainerName',
    'name',
    'model',
  ]);
  const podFieldsOf = (predictor: any) => Object.fromEntries(Object.entries(predictor).filter(([k]) => !EXTENSION_FIELDS.has(k)));
  /** The runtime's container with the predictor's model overrides merged in, as KServe builds the pod. */
  const effectiveContainer = (predictor: any) => {
    const model = predictor.model ?? {};
    const env = new Map<string, any>((container.env ?? []).map((e: any) => [e.name, e]));
    for (const e of model.env ?? []) env.set(e.name, e);
    const resources = {
      requests: { ...container.resources?.requests, ...model.resources?.requests },
      limits: { ...container.resources?.limits, ...model.resources?.limits },
    };
    return { ...container, env: [...env.values()], resources };
  };

  test('there are InferenceServices for Knative and Standard mode, from pvc:// and s3://', () => {
    assert.deepEqual(isvcFiles.sort(), [
      'inferenceservice-canary.yaml',
      'inferenceservice-s3.yaml',
      'inferenceservice-standard.yaml',
      'inferenceservice.yaml',
    ]);
    const uris = Object.values(isvcs).map((i) => i.spec.predictor.model.storageUri);
    assert.ok(uris.some((u) => u.startsWith('pvc://')) && uris.some((u) => u.startsWith('s3://')), uris.join(', '));
    assert.deepEqual([...new Set(Object.values(isvcs).map(mode))].sort(), ['Knative', 'Standard']);
  });

  test('ServingRuntime and InferenceServices are valid against the vendored CRD schemas', () => {
    for (const object of [runtime, ...Object.values(isvcs)])
      assert.deepEqual(validate(object), [], `${object.kind}/${object.metadata.name}`);
  });

  test('the CRD validator refuses unknown fields, wrong types and unknown kinds', () => {
    const canary = isvcs['inferenceservice-canary.yaml'];
    const typo = structuredClone(canary);
    typo.spec.predictor.canaryTrafficPercentage = 10;
    assert.match(validate(typo).join('\n'), /must NOT have additional properties.*canaryTrafficPercentage/);
    const wrongType = structuredClone(canary);
    wrongType.spec.predictor.canaryTrafficPercent = 'ten';
    assert.match(validate(wrongType).join('\n'), /canaryTrafficPercent must be integer/);
    const badMetric = structuredClone(isvcs['inferenceservice.yaml']);
    badMetric.spec.predictor.scaleMetric = 'pending';
    assert.match(validate(badMetric).join('\n'), /scaleMetric must be equal to one of the allowed values/);
    const standard = structuredClone(isvcs['inferenceservice-standard.yaml']);
    standard.spec.canary[0].trafficPercentage = 10;
    assert.match(validate(standard).join('\n'), /must NOT have additional properties.*trafficPercentage/);
    assert.match(validate({ apiVersion: 'serving.kserve.io/v1beta1', kind: 'Widget' }).join('\n'), /no vendored schema/);
  });

  test('KServe-native mode: the runtime serves {{.Name}} from /mnt/models, without a registry database', () => {
    assert.ok(runtime.spec.supportedModelFormats.some((f: any) => f.name === 'onnx'));
    assert.ok(runtime.spec.protocolVersions.includes('v2'));
    assert.equal(container.name, 'kserve-container', 'KServe finds the model server by this name');
    assert.match(container.image, /^bnserve\/server(:|$)/);
    assert.equal(container.args[0], 'serve');
    // As KServe's own runtimes write it (config/runtimes: --model_name={{.Name}} --model_dir=/mnt/models).
    assert.ok(container.args.includes('--model-name={{.Name}}'), container.args.join(' '));
    assert.ok(container.args.includes('--model-dir=/mnt/models'), 'KServe puts storageUri at /mnt/models');
    assert.ok(container.args.includes('--host=0.0.0.0'));
    assert.ok(container.args.includes(`--port=${container.ports[0].containerPort}`), 'the port is an argument (Knative owns PORT)');
    for (const name of ['DATABASE_URL', 'BNSERVE_ARTIFACTS', 'BNSERVE_DEFAULT_ALIAS']) {
      assert.equal(
        container.env?.some((e: any) => e.name === name),
        false,
        `${name}: no registry in KServe-native mode`,
      );
    }
    assert.equal(container.readinessProbe.httpGet.path, '/v2/models/{{.Name}}/ready');
    assert.equal(container.livenessProbe.httpGet.path, '/v2/health/live');
    assert.equal(envOf(container).BNSERVE_GRPC_PORT, '0', 'one port per Knative revision');
    serveConfigFromEnv(envOf(container));
  });

  test('Knative admits the runtime’s container: no reserved env (PORT), no fieldRef, one port, no lifecycle', () => {
    assert.deepEqual(knativeContainerProblems(container), []);
    for (const [file, isvc] of Object.entries(isvcs).filter(([, i]) => isKnative(i))) {
      assert.deepEqual(knativeContainerProblems(effectiveContainer(isvc.spec.predictor)), [], file);
      assert.deepEqual(knativePodProblems(podFieldsOf(isvc.spec.predictor)), [], `${file}: predictor pod fields`);
    }
  });

  test('the runtime has a startup probe that outlasts a slow model load; liveness only after it', () => {
    const startup = container.startupProbe;
    assert.ok(startup?.httpGet, 'startupProbe (without one, liveness restarts a container still loading)');
    assert.equal(startup.httpGet.path, container.readinessProbe.httpGet.path);
    assert.ok(startupBudgetSeconds(startup) >= MIN_STARTUP_SECONDS, `startup budget ${startupBudgetSeconds(startup)} s`);
  });

  test('the runtime’s container is admitted under the "restricted" Pod Security Standard (seccomp included)', () => {
    assert.deepEqual(restrictedProblems({ containers: [container] }), []);
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  });

  test('onnxruntime threads = the CPU limit, without spinning, for the runtime and every InferenceService', () => {
    assertThreadsFollowCpuLimit(container, 'ServingRuntime');
    for (const [file, isvc] of Object.entries(isvcs)) {
      assertThreadsFollowCpuLimit(effectiveContainer(isvc.spec.predictor), file);
      for (const canary of isvc.spec.canary ?? []) assertThreadsFollowCpuLimit(effectiveContainer(canary.predictor), `${file} canary`);
    }
  });

  test('every InferenceService is one model on the bnserve runtime, from a storageUri KServe can fetch', () => {
    for (const [file, isvc] of Object.entries(isvcs)) {
      for (const predictor of [isvc.spec.predictor, ...(isvc.spec.canary ?? []).map((c: any) => c.predictor)]) {
        const model = predictor.model;
        assert.equal(model.runtime, runtime.metadata.name, file);
        assert.equal(model.modelFormat.name, 'onnx', file);
        assert.equal(model.protocolVersion, 'v2', file);
        assert.match(model.storageUri, /^(pvc|s3|gs|oci|https?):\/\/[^/]+\/./, `${file}: a folder of a claim or bucket, not all of it`);
        assert.equal(model.env?.some((e: any) => e.name === 'BNSERVE_DEFAULT_ALIAS') ?? false, false, `${file}: no registry aliases`);
      }
      assert.match(isvc.metadata.name, /^[a-z]([-a-z0-9]*[a-z0-9])?$/, `${file}: the name is the model name`);
      assert.ok(isvc.spec.predictor.minReplicas >= 1, file);
    }
  });

  test('every InferenceService states its deployment mode; canaryTrafficPercent only in Knative mode', () => {
    for (const [file, isvc] of Object.entries(isvcs)) {
      assert.ok(['Knative', 'Standard'].includes(mode(isvc)), `${file}: serving.kserve.io/deploymentMode is ${mode(isvc)}`);
      if (isvc.spec.predictor.canaryTrafficPercent !== undefined) {
        assert.ok(isKnative(isvc), `${file}: canaryTrafficPercent needs Knative revisions (Standard mode ignores it)`);
      }
      if (isKnative(isvc)) assert.ok(['concurrency', 'rps', undefined].includes(isvc.spec.predictor.scaleMetric), file);
    }
  });

  test('the Knative canary is the same InferenceService on a new version with part of the traffic', () => {
    const stable = isvcs['inferenceservice.yaml'];
    const canary = isvcs['inferenceservice-canary.yaml'];
    assert.equal(canary.metadata.name, stable.metadata.name);
    assert.equal(stable.spec.predictor.canaryTrafficPercent, undefined);
    const percent = canary.spec.predictor.canaryTrafficPercent;
    assert.ok(percent > 0 && percent < 100, `canaryTrafficPercent ${percent}`);
    assert.notEqual(canary.spec.predictor.model.storageUri, stable.spec.predictor.model.storageUri);
  });

  test('spec.canary as KServe v0.20 validates it: Standard mode, named fixed-size canaries, at most 100 %', () => {
    // kserve v0.20.0 pkg/apis/serving/v1beta1/inference_service_validation.go, validateCanarySpecs.
    let canaries = 0;
    for (const [file, isvc] of Object.entries(isvcs)) {
      if (!isvc.spec.canary) continue;
      assert.equal(mode(isvc), 'Standard', `${file}: "canary is only supported in Standard deployment mode" (the annotation exactly)`);
      const stableMin = isvc.spec.predictor.minReplicas ?? 1;
      const names = new Set<string>();
      let total = 0;
      for (const canary of isvc.spec.canary) {
        const p = canary.predictor;
        assert.match(p.name ?? '', /^[a-z]([-a-z0-9]*[a-z0-9])?$/, `${file}: canary predictor.name is required`);
        assert.ok(!names.has(p.name) && p.name !== isvc.spec.predictor.name, `${file}: canary ${p.name} is unique`);
        names.add(p.name);
        for (const key of ['maxReplicas', 'scaleTarget', 'scaleMetric', 'autoScaling']) {
          assert.equal(p[key], undefined, `${file}: canary ${p.name} must not set ${key} (fixed replicas)`);
        }
        assert.ok(p.minReplicas === undefined || p.minReplicas <= stableMin, `${file}: canary minReplicas ≤ stable`);
        assert.ok(canary.trafficPercent >= 0 && canary.trafficPercent <= 100);
        assert.notEqual(p.model.storageUri, isvc.spec.predictor.model.storageUri, `${file}: the canary serves another version`);
        total += canary.trafficPercent;
        canaries++;
      }
      assert.ok(total <= 100, `${file}: canary traffic ${total} % ≤ 100 %`);
    }
    assert.ok(canaries > 0, 'a Standard-mode example uses spec.canary');
  });
});

describe('Kustomize overlays', { skip: noKubectl }, () => {
  const drainMsOf = (container: any) => serveConfigFromEnv(envOf(container)).timeouts.shutdownMs;
  const STORAGE_CLASS = 'test-rwx';

  test('the base renders valid objects (storage class and release are left to the overlays)', () => {
    const objects = noKubectl ? [] : render(path.join(k8sDir, 'base'));
    for (const object of objects) assert.deepEqual(kubernetesProblems(object), [], `${object.kind}/${object.metadata?.name}`);
  });

  for (const variant of ['cpu', 'gpu'] as const) {
    describe(variant, () => {
      const release = `r-${variant}-1`;
      // Rendered once; a failure is reported by each test that needs the objects, not by the suite.
      let rendered: K8sObject[] | Error = [];
      try {
        if (!noKubectl) rendered = renderConfigured(variant, { rwxStorageClass: STORAGE_CLASS, release });
      } catch (err) {
        rendered = err as Error;
      }
      const objects = (): K8sObject[] => {
        if (rendered instanceof Error) throw rendered;
        return rendered;
      };
      const deployment = () => find(objects(), 'Deployment', 'bnserve-server');
      const pod = () => deployment().spec.template.spec;
      const server = () => pod().containers.find((c: any) => c.name === 'server');
      const migrateJob = () => find(objects(), 'Job', /^bnserve-migrate/);

      test('the shipped overlay does not render until its ReadWriteMany storage class is set', () => {
        assert.equal(shippedSettings(variant).rwxStorageClass, undefined, 'no storage class is guessed');
        const result = kustomize(path.join(k8sDir, 'overlays', variant));
        assert.notEqual(result.status, 0, 'kubectl kustomize must fail while rwxStorageClass is unset');
        assert.match(result.stderr, /rwxStorageClass/, 'the error names the setting');
      });

      test('renders only known kinds, each valid against the Kubernetes schemas; the settings ConfigMap stays local', () => {
        assert.deepEqual(
          objects()
            .map((o) => o.kind)
            .sort(),
          [
            'Deployment',
            'HorizontalPodAutoscaler',
            'Job',
            'PersistentVolumeClaim',
            'PersistentVolumeClaim',
            'PodDisruptionBudget',
            'Service',
          ],
        );
        for (const object of objects()) assert.deepEqual(kubernetesProblems(object), [], `${object.kind}/${object.metadata?.name}`);
      });

      test('both ReadWriteMany claims get the storage class the overlay sets', () => {
        for (const name of ['bnserve-artifacts', 'bnserve-checkpoints']) {
          const claim = find(objects(), 'PersistentVolumeClaim', name);
          assert.deepEqual(claim.spec.accessModes, ['ReadWriteMany']);
          assert.equal(claim.spec.storageClassName, STORAGE_CLASS, name);
        }
      });

      test('probes: startup on readiness with a 10-minute budget, liveness on /v2/health/live, readiness on /v2/health/ready', () => {
        const c = server();
        assert.equal(c.livenessProbe?.httpGet?.path, '/v2/health/live');
        assert.equal(c.readinessProbe?.httpGet?.path, '/v2/health/ready');
        assert.equal(c.startupProbe?.httpGet?.path, '/v2/health/ready', 'startup ends when the models are loaded, not when the port opens');
        assert.ok(startupBudgetSeconds(c.startupProbe) >= MIN_STARTUP_SECONDS, `startup budget ${startupBudgetSeconds(c.startupProbe)} s`);
        const http = c.ports.find((p: any) => p.name === 'http');
        assert.equal(http?.containerPort, Number(envOf(c).PORT));
        for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) assert.equal(probe.httpGet.port, 'http');
      });

      test('readiness is lenient (BNSERVE_STRICT_READINESS=false): a registry blip does not empty the Service', () => {
        assert.equal(readSettings(['BNSERVE_STRICT_READINESS'], envOf(server())).BNSERVE_STRICT_READINESS, false);
      });

      test('servers do not migrate (BNSERVE_MIGRATE_ON_START=false); the migration Job does', () => {
        assert.equal(readSettings(['BNSERVE_MIGRATE_ON_START'], envOf(server())).BNSERVE_MIGRATE_ON_START, false);
      });

      test('terminationGracePeriodSeconds exceeds the preStop sleep plus the server drain (BNSERVE_SHUTDOWN_TIMEOUT_MS)', () => {
        const grace = pod().terminationGracePeriodSeconds;
        const preStop = preStopSeconds(server());
        const drainSeconds = drainMsOf(server()) / 1000;
        assert.ok(preStop >= 5, `preStop sleeps ${preStop} s: long enough for endpoints to drop the pod`);
        assert.ok(grace > preStop + drainSeconds, `grace ${grace} s > preStop ${preStop} s + drain ${drainSeconds} s`);
      });

      test('runs as non-root with a read-only root filesystem, seccomp, a writable /tmp and read-only artifacts', () => {
        assertLocked(pod(), server(), 'server');
        assertWritableTmp(pod(), server(), 'server');
        const artifacts = mountAt(pod(), server(), envOf(server()).BNSERVE_ARTIFACTS);
        assert.equal(artifacts?.mount.readOnly, true);
        assert.equal(artifacts?.volume?.persistentVolumeClaim?.claimName, 'bnserve-artifacts');
        assert.equal(pod().automountServiceAccountToken, false);
      });

      test('the registry comes from the bnserve-db Secret; the admin token is optional', () => {
        assert.deepEqual(secretEnv(server(), 'DATABASE_URL'), { name: 'bnserve-db', key: 'DATABASE_URL' });
        assert.equal(secretEnv(server(), 'BNSERVE_ADMIN_TOKEN')?.name, 'bnserve-admin');
        assert.equal((secretEnv(server(), 'BNSERVE_ADMIN_TOKEN') as any)?.optional, true);
        serveConfigFromEnv(envOf(server())); // every literal serving setting is one the server accepts
      });

      test('resources are requested and limited; onnxruntime threads = the CPU limit, without spinning', () => {
        const { requests, limits } = server().resources;
        assert.ok(requests.cpu && requests.memory && limits.memory, JSON.stringify(server().resources));
        assertThreadsFollowCpuLimit(server(), 'server');
      });

      test('the Service exposes HTTP 8080 and gRPC 8081 on the named container ports', () => {
        const service = find(objects(), 'Service', 'bnserve-server');
        const labels = deployment().spec.template.metadata.labels;
        for (const [k, v] of Object.entries(service.spec.selector)) assert.equal(labels[k], v, `selector ${k}`);
        const containerPorts = Object.fromEntries(server().ports.map((p: any) => [p.name, p.containerPort]));
        assert.deepEqual(containerPorts, { http: 8080, grpc: 8081 });
        assert.equal(envOf(server()).BNSERVE_GRPC_PORT, '8081');
        const ports = Object.fromEntries(service.spec.ports.map((p: any) => [p.name, [p.port, p.targetPort]]));
        assert.deepEqual(ports, { http: [8080, 'http'], grpc: [8081, 'grpc'] });
      });

      test('the PodDisruptionBudget covers the server pods', () => {
        const pdb = find(objects(), 'PodDisruptionBudget', 'bnserve-server');
        const labels = deployment().spec.template.metadata.labels;
        for (const [k, v] of Object.entries(pdb.spec.selector.matchLabels)) assert.equal(labels[k], v, `selector ${k}`);
        const hpa = find(objects(), 'HorizontalPodAutoscaler', 'bnserve-server');
        assert.ok(hpa.spec.minReplicas >= 2, 'a PDB with one replica would still allow an outage');
      });

      test(`the HPA scales the Deployment on ${PENDING_REQUESTS_METRIC}, the name the server exports`, () => {
        const hpa = find(objects(), 'HorizontalPodAutoscaler', 'bnserve-server');
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

      test('a rolling update never needs a spare GPU: no surge pod when the server asks for one', () => {
        const gpus = Number(server().resources.limits['nvidia.com/gpu'] ?? 0);
        const strategy = deployment().spec.strategy ?? {};
        if (gpus === 0 || strategy.type === 'Recreate') return;
        const surge = String(strategy.rollingUpdate?.maxSurge ?? '25%');
        assert.ok(surge === '0' || surge === '0%', `maxSurge ${surge} with ${gpus} GPU per pod hangs on a cluster with no spare GPU`);
        assert.notEqual(String(strategy.rollingUpdate?.maxUnavailable ?? '25%'), '0', 'maxUnavailable > 0 when maxSurge is 0');
      });

      test('the migration Job runs `bnserve migrate` from the CPU server image, named for the release', () => {
        const job = migrateJob();
        assert.equal(job.metadata.name, `bnserve-migrate-${release}`, 'a new Job per release: the old one’s pod template is immutable');
        assert.ok(job.metadata.name.length <= 63, 'the Job controller copies the name into a label (63 characters at most)');
        const jobPod = job.spec.template.spec;
        const [container] = jobPod.containers;
        assert.equal(container.args[0], 'migrate');
        assert.match(container.image, new RegExp(`^${SERVER_IMAGES.cpu}(:|$)`));
        assert.deepEqual(secretEnv(container, 'DATABASE_URL'), { name: 'bnserve-db', key: 'DATABASE_URL' });
        assert.equal(jobPod.restartPolicy, 'Never');
        assertLocked(jobPod, container, 'migrate');
        assertWritableTmp(jobPod, container, 'migrate');
        const again = renderConfigured(variant, { rwxStorageClass: STORAGE_CLASS, release: `${release}-next` });
        assert.equal(
          find(again, 'Job', /^bnserve-migrate/).metadata.name,
          `bnserve-migrate-${release}-next`,
          'the next release, the next Job',
        );
      });

      test('the migration Job is an Argo CD PreSync hook and a Flux force-apply object (inert elsewhere)', () => {
        const annotations = migrateJob().metadata.annotations ?? {};
        assert.equal(annotations['argocd.argoproj.io/hook'], 'PreSync');
        assert.match(annotations['argocd.argoproj.io/hook-delete-policy'] ?? '', /BeforeHookCreation/);
        assert.equal(annotations['kustomize.toolkit.fluxcd.io/force'], 'enabled');
        assert.ok(migrateJob().spec.ttlSecondsAfterFinished > 0, 'finished Jobs of past releases go away');
      });

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
    });
  }
});
