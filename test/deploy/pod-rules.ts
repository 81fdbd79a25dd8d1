// Admission rules that schema validation does not see, written down from their sources so the manifests
// can be checked offline: Knative Serving's validation of a revision (KServe's Knative mode turns the
// ServingRuntime's container plus the InferenceService's predictor into a Knative Service) under its
// default feature flags, and the "restricted" Pod Security Standard. Each returns the list of problems.

/**
 * knative/serving pkg/apis/serving/k8s_validation.go: reservedEnvVars ("PORT" is a reserved
 * environment variable), reservedPorts (queue-proxy's and the activator's ports: networking.BackendHTTPPort
 * 8012, BackendHTTP2Port 8013, QueueAdminPort 8022, AutoscalingQueueMetricsPort 9090,
 * UserQueueMetricsPort 9091, profiling 8008), validPortNames, reservedContainerNames.
 */
export const KNATIVE_RESERVED_ENV = ['PORT', 'K_SERVICE', 'K_CONFIGURATION', 'K_REVISION'];
export const KNATIVE_RESERVED_PORTS = [8012, 8013, 8022, 9090, 9091, 8008];
const KNATIVE_PORT_NAMES = ['h2c', 'http1', ''];

/** pkg/apis/serving/fieldmask.go ContainerMask: every other container field is refused (lifecycle among them). */
const KNATIVE_CONTAINER_FIELDS = new Set([
  'name',
  'args',
  'command',
  'env',
  'workingDir',
  'envFrom',
  'image',
  'imagePullPolicy',
  'livenessProbe',
  'ports',
  'readinessProbe',
  'resources',
  'securityContext',
  'startupProbe',
  'terminationMessagePath',
  'terminationMessagePolicy',
  'volumeMounts',
]);

/** SecurityContextMask (privileged only as false). */
const KNATIVE_SECURITY_CONTEXT_FIELDS = new Set([
  'capabilities',
  'readOnlyRootFilesystem',
  'runAsUser',
  'runAsGroup',
  'runAsNonRoot',
  'allowPrivilegeEscalation',
  'seccompProfile',
  'privileged',
]);

/**
 * PodSpecMask with pkg/apis/config/features.go's defaults: affinity, tolerations, nodeSelector,
 * securityContext, initContainers, priorityClassName, runtimeClassName, ... are feature flags, all
 * Disabled by default; automountServiceAccountToken is allowed only as false.
 */
const KNATIVE_POD_FIELDS = new Set([
  'serviceAccountName',
  'containers',
  'volumes',
  'imagePullSecrets',
  'enableServiceLinks',
  'automountServiceAccountToken',
]);

/** The serving container of a Knative revision, as Knative's webhook validates it with default features. */
export function knativeContainerProblems(container: any): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(container)) {
    if (!KNATIVE_CONTAINER_FIELDS.has(key)) problems.push(`container field ${key} is not allowed by Knative`);
  }
  if (container.name === 'queue-proxy') problems.push('container name queue-proxy is reserved');
  for (const env of container.env ?? []) {
    if (KNATIVE_RESERVED_ENV.includes(env.name)) problems.push(`"${env.name}" is a reserved environment variable`);
    const from = env.valueFrom;
    if (from?.fieldRef || from?.resourceFieldRef) {
      problems.push(`env ${env.name}: fieldRef/resourceFieldRef need the kubernetes.podspec-fieldref feature (off by default)`);
    }
  }
  const ports = container.ports ?? [];
  if (ports.length > 1) problems.push('more than one container port is set');
  const port = ports[0] ?? { name: '', containerPort: 8080 };
  if (!KNATIVE_PORT_NAMES.includes(port.name ?? '')) problems.push(`port name ${port.name} is not one of h2c, http1`);
  if (KNATIVE_RESERVED_PORTS.includes(port.containerPort)) problems.push(`${port.containerPort} is a reserved port`);
  for (const probeName of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const probe = container[probeName];
    const probePort = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
    if (typeof probePort === 'string' && probePort !== (port.name || 'http')) {
      problems.push(`${probeName}: probe port ${probePort} must match the container port`);
    }
  }
  for (const [key, value] of Object.entries(container.securityContext ?? {})) {
    if (!KNATIVE_SECURITY_CONTEXT_FIELDS.has(key) || (key === 'privileged' && value !== false)) {
      problems.push(`securityContext.${key} is not allowed by Knative`);
    }
  }
  if ((container.securityContext?.capabilities?.add ?? []).length > 0) problems.push('capabilities.add needs a Knative feature flag');
  return problems;
}

/** Pod-level fields of a Knative revision (for KServe: the InferenceService predictor's pod fields). */
export function knativePodProblems(pod: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(pod)) {
    if (!KNATIVE_POD_FIELDS.has(key)) problems.push(`pod field ${key} is off by default in Knative (a feature flag) or refused`);
    if (key === 'automountServiceAccountToken' && value !== false) problems.push('automountServiceAccountToken may only be false');
  }
  return problems;
}

const RESTRICTED_VOLUME_TYPES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];

/**
 * The "restricted" Pod Security Standard (kubernetes.io/docs/concepts/security/pod-security-standards):
 * what the admission controller refuses in a namespace labelled pod-security.kubernetes.io/enforce=restricted.
 * `pod` may be a full pod spec or only its containers (a ServingRuntime has no pod securityContext).
 */
export function restrictedProblems(pod: any): string[] {
  const problems: string[] = [];
  const podSc = pod.securityContext ?? {};
  for (const key of ['hostNetwork', 'hostPID', 'hostIPC']) if (pod[key]) problems.push(`${key} is set`);
  for (const volume of pod.volumes ?? []) {
    const type = Object.keys(volume).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUME_TYPES.includes(type)) problems.push(`volume ${volume.name}: type ${type} is not allowed`);
  }
  if (podSc.runAsUser === 0) problems.push('pod runAsUser is 0');
  const containers = [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const who = `container ${c.name}`;
    if (sc.privileged) problems.push(`${who}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) problems.push(`${who}: allowPrivilegeEscalation is not false`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) problems.push(`${who}: runAsNonRoot is not true`);
    if (sc.runAsUser === 0) problems.push(`${who}: runAsUser is 0`);
    const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost')
      problems.push(`${who}: seccompProfile is ${seccomp ?? 'unset'}, not RuntimeDefault or Localhost`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) problems.push(`${who}: capabilities do not drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') problems.push(`${who}: adds capability ${cap}`);
    for (const port of c.ports ?? []) if (port.hostPort) problems.push(`${who}: hostPort ${port.hostPort}`);
  }
  return problems;
}

/** A Kubernetes CPU quantity ("2", "1500m", "0.5") in cores. */
export function cpuCores(quantity: string | number | undefined): number | undefined {
  if (quantity === undefined) return undefined;
  const text = String(quantity);
  const cores = text.endsWith('m') ? Number(text.slice(0, -1)) / 1000 : Number(text);
  if (!Number.isFinite(cores) || cores <= 0) throw new Error(`not a CPU quantity: ${text}`);
  return cores;
}
