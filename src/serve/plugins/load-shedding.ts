import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { OverloadedError } from '../batcher.ts';

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

function rejectWhenQueueFull(app: FastifyInstance) {
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const { model, version, alias } = request.params as { model?: string; version?: string; alias?: string };
    if (model === undefined) return;
    let full: Error | null;
    let served: { name: string; version: number };
    try {
      const v = app.models.peek(model, version !== undefined ? Number(version) : alias);
      full = v.queueFullError();
      served = { name: v.name, version: v.version };
    } catch {
      return;
    }
    if (!(full instanceof OverloadedError)) return;
    request.served = { model: served.name, version: served.version };
    app.metrics.observeRejection(served.name, served.version, full.reason);
    app.metrics.stats.failure(served.name, served.version, 0);
    reply.header('retry-after', String(full.retryAfterSeconds));
    throw full;
  };
}
