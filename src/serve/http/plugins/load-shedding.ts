import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import fp from 'fastify-plugin';
import { OverloadedError } from '../../dataplane/batcher.ts';

/** Inference routes: TF Serving's :predict and the Open Inference Protocol's infer. */
const isInferenceRoute = (method: string | string[], url: string) =>
  method === 'POST' && (url.endsWith('::predict') || url.endsWith('/infer'));

/**
 * A request for a model whose queue is full gets its 503 (with Retry-After) as soon as its headers
 * are read, before its body is received, parsed and decoded: under overload the server spends no
 * time on work it will refuse. Anything this check cannot resolve (unknown model, version not
 * loaded) goes on to the route, which answers it as usual; the batcher still checks at submit.
 */
export const loadShedding = fp(
  async (app) => {
    app.addHook('onRoute', (route) => {
      if (!isInferenceRoute(route.method, route.url)) return;
      const existing = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [rejectWhenQueueFull(app), ...existing];
    });
  },
  { name: 'bnserve-load-shedding', fastify: '5.x', dependencies: ['bnserve-domain'] },
);

// Callback style (not async): it runs on every inference request, and a promise per request is not free.
function rejectWhenQueueFull(app: FastifyInstance) {
  return (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    const full = queueFull(app, request);
    if (full) reply.header('retry-after', String(full.retryAfterSeconds));
    done(full ?? undefined);
  };
}

/** The 503 this request gets at once (counted in the metrics), or null when it goes on to its route. */
function queueFull(app: FastifyInstance, request: FastifyRequest): OverloadedError | null {
  const { model, version, alias } = request.params as { model?: string; version?: string; alias?: string };
  if (model === undefined) return null;
  let full: Error | null;
  let served: { name: string; version: number };
  try {
    const v = app.models.peek(model, version !== undefined ? Number(version) : alias);
    full = v.queueFullError();
    served = { name: v.name, version: v.version };
  } catch {
    return null;
  }
  if (!(full instanceof OverloadedError)) return null;
  request.served = { model: served.name, version: served.version };
  app.metrics.observeRejection(served.name, served.version, full.reason);
  app.metrics.stats.failure(served.name, served.version, 0);
  return full;
}
