// The JSON API under /api (read-only) and the admin routes (bearer token), as the page uses them.
export type MetricValues = Record<string, number | null>;

export interface RunSummary {
  id: string;
  name: string;
  status: 'running' | 'succeeded' | 'failed';
  diverged: boolean;
  backend: string;
  seed: number | null;
  epochs: number;
  startedAt: string;
  finishedAt: string | null;
  durationSeconds: number | null;
  error: string | null;
  finalMetrics: MetricValues | null;
  bnGuard: { verdict: 'ok' | 'flagged' | 'no-bn' | 'unchecked'; detail: string | null };
  versions: { name: string; version: number }[];
}

export interface VersionView {
  name: string;
  version: number;
  runId: string | null;
  sha256: string;
  size: number;
  opset: number;
  task: 'classification' | 'regression';
  classLabels: string[];
  featureNames: string[];
  parityMaxAbsDiff: number;
  folded: boolean;
  bnGuardWarning: string | null;
  createdAt: string;
  aliases: string[];
}

export interface RunDetail extends RunSummary {
  config: unknown;
  epochMetrics: MetricValues[];
  registeredVersions: VersionView[];
  bnGuardDetails: {
    steps: number | null;
    layers: { index: number; momentum: number; residual: number | null }[];
    checks: { name: string; meanGap: number; varianceRatio: number }[] | null;
  };
}

export interface ModelView {
  name: string;
  latestVersion: number;
  /** null when the BN guard flagged every version. */
  latestUnflaggedVersion: number | null;
  aliases: Record<string, number>;
  served: { defaultVersion: number | null; loadedVersions: number[]; unloaded: boolean } | null;
  versions: VersionView[];
}

export interface Histogram {
  name: string;
  help: string;
  buckets: { le: string; count: number }[];
  count: number;
  sum: number;
}

export interface ServerView {
  time: string;
  uptimeSeconds: number;
  ready: boolean;
  registryAvailable: boolean;
  configuredProviders: string[];
  adminEnabled: boolean;
  queueDepth: number;
  models: {
    name: string;
    unloaded: boolean;
    defaultVersion: number | null;
    aliases: Record<string, number>;
    loaded: { version: number; executionProvider: string; inflight: number; queued: number; runningBatches: number; loadedAt: string }[];
    failures: { version: number; reason: string; retrying: boolean }[];
  }[];
  requestsByStatus: Record<string, number>;
  histograms: Histogram[];
}

export interface DecisionRegions {
  features: [string, string];
  classes: string[];
  xRange: [number, number];
  yRange: [number, number];
  resolution: number;
  heldAt: Record<string, number>;
  cells: number[];
  confidence: number[];
  points: { x: number; y: number; label: number }[];
  /** Why points is empty for this caller (training rows are for admins on this server); null when shown. */
  pointsHidden: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function call<T>(url: string, init?: RequestInit): Promise<T> {
  const response = await fetch(url, init);
  const body = await response.json().catch(() => null);
  if (!response.ok)
    throw new ApiError(response.status, (body as { error?: string } | null)?.error ?? `${response.status} ${response.statusText}`);
  return body as T;
}

const TOKEN_KEY = 'bnserve-admin-token';

export const token = {
  get: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  set: (value: string) => sessionStorage.setItem(TOKEN_KEY, value),
  clear: () => sessionStorage.removeItem(TOKEN_KEY),
};

/** Reads that show more to an admin (training rows, server paths) send the token when one was entered. */
const asAdminIfKnown = (): RequestInit | undefined => {
  const bearer = token.get();
  return bearer ? { headers: { authorization: `Bearer ${bearer}` } } : undefined;
};

function admin<T>(url: string, body: unknown, bearer = token.get()): Promise<T> {
  if (!bearer) return Promise.reject(new ApiError(401, 'enter the admin token first (top right)'));
  return call<T>(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

export const api = {
  runs: (query: { name?: string; status?: string } = {}) => {
    const params = new URLSearchParams(Object.entries(query).filter(([, v]) => v) as [string, string][]);
    return call<{ runs: RunSummary[] }>(`/api/runs${params.size ? `?${params}` : ''}`, asAdminIfKnown());
  },
  run: (id: string) => call<RunDetail>(`/api/runs/${encodeURIComponent(id)}`, asAdminIfKnown()),
  models: () => call<{ models: ModelView[] }>('/api/models'),
  server: () => call<ServerView>('/api/server'),
  metadata: (model: string, version: number) =>
    call<{ metadata: Record<string, string> }>(`/api/models/${encodeURIComponent(model)}/versions/${version}/metadata`),
  regions: (model: string, version: number) =>
    call<DecisionRegions>(`/api/models/${encodeURIComponent(model)}/versions/${version}/decision-regions?resolution=50`, asAdminIfKnown()),
  /** A harmless admin call: 200 means the token is accepted. */
  checkToken: (bearer: string) => admin<unknown>('/v2/repository/index', {}, bearer),
  promote: (model: string, version: number, alias: string, force: boolean) =>
    admin<{ previous_version: number | null }>(`/admin/models/${encodeURIComponent(model)}/promote`, { version, alias, force }),
  load: (model: string) => admin<unknown>(`/v2/repository/models/${encodeURIComponent(model)}/load`, {}),
  unload: (model: string) => admin<unknown>(`/v2/repository/models/${encodeURIComponent(model)}/unload`, {}),
};
