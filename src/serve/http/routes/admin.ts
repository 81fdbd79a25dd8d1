import type { FastifyInstance } from 'fastify';
import { bearerMatches } from '../../dataplane/admin-token.ts';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HttpError } from '../http-errors.ts';
import type { ModelManager, ModelStatus } from '../../dataplane/model-manager.ts';
import { z } from 'zod';
import {
  batchingOverrideSchema,
  batchingResponse,
  errorBody,
  modelParams,
  modelStatus,
  promoteBody,
  promoteResponse,
  repositoryIndex,
} from '../schemas.ts';

const loadBody = z.object({ parameters: z.record(z.string(), z.unknown()).optional() }).nullish();

// The check lives in the data plane, which gRPC's repository RPCs share; re-exported for the dashboard.
export { bearerMatches };

/** Every route of the calling plugin answers 403 without BNSERVE_ADMIN_TOKEN set, 401 without the token. */
export function requireAdminToken(app: FastifyInstance): void {
  const token = app.serveConfig.adminToken;
  app.addHook('onRequest', async (request, reply) => {
    if (!token) throw new HttpError(403, 'admin routes are disabled: set BNSERVE_ADMIN_TOKEN to enable them');
    if (!bearerMatches(request.headers.authorization, token)) {
      reply.header('www-authenticate', 'Bearer');
      throw new HttpError(401, 'missing or wrong admin token (send "Authorization: Bearer $BNSERVE_ADMIN_TOKEN")');
    }
  });
}

/** READY only when the model serves a default version and every alias target it should (see modelReadiness). */
function statusBody(models: ModelManager, s: ModelStatus) {
  const { ready, reasons } = s.unloaded ? { ready: false, reasons: ['unloaded by an admin'] } : models.modelReadiness(s.name);
  return {
    name: s.name,
    state: ready ? ('READY' as const) : ('UNAVAILABLE' as const),
    default_version: s.defaultVersion,
    aliases: s.aliases,
    registry_aliases: s.registryAliases,
    loaded_versions: s.loaded.map((v) => ({ version: v.version, execution_provider: v.provider, inflight: v.inflightRequests })),
    load_errors: s.failures.map((f) => ({
      version: f.version,
      error: f.reason,
      retrying: !f.permanent,
      at: f.at.toISOString(),
      detail: f.message,
    })),
    reasons,
  };
}

/**
 * Model control (Triton's repository extension names, plus promote). Always routed, so that a
 * client gets a clear 403 rather than a bare 404 when no BNSERVE_ADMIN_TOKEN is configured.
 */
export const adminRoutes: FastifyPluginAsyncZod = async (app) => {
  requireAdminToken(app);

  const security = [{ adminToken: [] }];
  const errors = { 400: errorBody, 401: errorBody, 403: errorBody, 404: errorBody, 409: errorBody, 422: errorBody, 503: errorBody };

  app.post('/v2/repository/index', { schema: { tags: ['admin'], security, response: { 200: repositoryIndex, ...errors } } }, async () =>
    app.models.index(),
  );

  app.post(
    '/v2/repository/models/:model/load',
    { schema: { tags: ['admin'], security, params: modelParams, body: loadBody, response: { 200: modelStatus, ...errors } } },
    async (request) => {
      // Triton's load_model(config=..., files=...) sends them as parameters; we serve registry versions as registered.
      const overrides = Object.keys(request.body?.parameters ?? {}).filter((k) => k === 'config' || k.startsWith('file:'));
      if (overrides.length > 0) {
        throw new HttpError(
          400,
          `load with ${overrides.map((k) => `parameters.${k}`).join(', ')} is not supported: bnserve loads the registry's versions as registered ` +
            '(batching settings: PUT /admin/models/{model}/batching); send the load request without config or files',
        );
      }
      return statusBody(app.models, await app.models.load(request.params.model));
    },
  );

  app.post(
    '/v2/repository/models/:model/unload',
    { schema: { tags: ['admin'], security, params: modelParams, response: { 200: modelStatus, ...errors } } },
    async (request) => statusBody(app.models, await app.models.unload(request.params.model)),
  );

  app.post(
    '/admin/models/:model/promote',
    {
      schema: {
        tags: ['admin'],
        security,
        description:
          'Loads and warms the version, moves the alias in the registry, then swaps; in-flight requests finish on the previous version.',
        params: modelParams,
        body: promoteBody,
        response: { 200: promoteResponse, ...errors },
      },
    },
    async (request) => {
      const { version, alias, force } = request.body;
      const result = await app.models.promote(request.params.model, version, alias, { force });
      return { name: request.params.model, alias, version, previous_version: result.previous, execution_provider: result.version.provider };
    },
  );

  // Per-model dynamic batching at run time (Triton's dynamic_batching, per model): the scheduler
  // reads the new settings at its next decision; instanceCount applies to versions loaded after.
  const batchingOf = (model: string) => {
    app.models.status(model); // not_found for a model the server does not know
    return { name: model, override: app.batchingSettings.override(model), effective: app.batchingSettings.get(model) };
  };
  app.get(
    '/admin/models/:model/batching',
    { schema: { tags: ['admin'], security, params: modelParams, response: { 200: batchingResponse, ...errors } } },
    async (request) => batchingOf(request.params.model),
  );
  app.put(
    '/admin/models/:model/batching',
    {
      schema: {
        tags: ['admin'],
        security,
        description:
          "Replaces the model's batching override (an empty object returns it to the server-wide settings). Lasts until restart; " +
          'BNSERVE_MODEL_BATCHING sets the override a process starts with.',
        params: modelParams,
        body: batchingOverrideSchema,
        response: { 200: batchingResponse, ...errors },
      },
    },
    async (request) => {
      batchingOf(request.params.model);
      app.batchingSettings.setOverride(request.params.model, request.body);
      request.log.info({ model: request.params.model, override: request.body }, 'batching settings changed');
      return batchingOf(request.params.model);
    },
  );
};
