// The JSON API under /api (read-only) and the admin routes (bearer token), as the page uses them.
import type {
  DecisionRegionsView,
  ModelList,
  RunDetail,
  RunList,
  ServerView,
  VersionMetadata,
} from '../../src/serve/dashboard/api-schemas.ts';

// The answers' types are inferred from the server's zod schemas (one definition: a field the server
// drops or renames fails `tsc -p ui` wherever a page reads it). Type-only: nothing of the server is bundled.
export type {
  DecisionRegionsView as DecisionRegions,
  Histogram,
  MetricValues,
  ModelView,
  RunDetail,
  RunSummary,
  ServerView,
  VersionView,
} from '../../src/serve/dashboard/api-schemas.ts';

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
    return call<RunList>(`/api/runs${params.size ? `?${params}` : ''}`, asAdminIfKnown());
  },
  run: (id: string) => call<RunDetail>(`/api/runs/${encodeURIComponent(id)}`, asAdminIfKnown()),
  models: () => call<ModelList>('/api/models'),
  server: () => call<ServerView>('/api/server'),
  metadata: (model: string, version: number) =>
    call<VersionMetadata>(`/api/models/${encodeURIComponent(model)}/versions/${version}/metadata`),
  regions: (model: string, version: number) =>
    call<DecisionRegionsView>(
      `/api/models/${encodeURIComponent(model)}/versions/${version}/decision-regions?resolution=50`,
      asAdminIfKnown(),
    ),
  /** A harmless admin call: 200 means the token is accepted. */
  checkToken: (bearer: string) => admin<unknown>('/v2/repository/index', {}, bearer),
  promote: (model: string, version: number, alias: string, force: boolean) =>
    admin<{ previous_version: number | null }>(`/admin/models/${encodeURIComponent(model)}/promote`, { version, alias, force }),
  load: (model: string) => admin<unknown>(`/v2/repository/models/${encodeURIComponent(model)}/load`, {}),
  unload: (model: string) => admin<unknown>(`/v2/repository/models/${encodeURIComponent(model)}/unload`, {}),
};
