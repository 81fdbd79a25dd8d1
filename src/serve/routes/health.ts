import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SERVER_NAME, SERVER_VERSION } from '../plugins/external.ts';
import { serverMetadata, serverReady } from '../schemas.ts';

/** Ready when every model that should serve does, and not shutting down (both protocols answer the same). */
export function serverReadiness(app: FastifyInstance): { ready: boolean; reasons: string[] } {
  const { reasons } = app.models.readiness();
  if (app.lifecycle.draining) reasons.unshift('shutting down');
  return { ready: reasons.length === 0, reasons };
}

/** Open Inference Protocol server metadata (both protocols answer the same). */
export function serverMetadataAnswer(app: FastifyInstance) {
  return {
    name: SERVER_NAME,
    version: SERVER_VERSION,
    // model_repository only when usable (its routes answer 403 without an admin token).
    extensions: [
      ...(app.serveConfig.adminToken ? ['model_repository'] : []),
      'model_configuration',
      'statistics',
      'tf_serving_predict',
      'binary_tensor_data',
    ],
  };
}

/** Open Inference Protocol health and server metadata. */
export const healthRoutes: FastifyPluginAsyncZod = async (app) => {
  app.get('/v2/health/live', { schema: { tags: ['health'], response: { 200: z.object({ live: z.boolean() }) } } }, async () => ({
    live: true,
  }));

  app.get(
    '/v2/health/ready',
    {
      schema: {
        tags: ['health'],
        description:
          '200 when every model that should be ready is: the registry was read and passes its check, and the default ' +
          'version and every alias target of each model are served (none failed its last load). 503 with the reasons otherwise.',
        response: { 200: serverReady, 503: serverReady },
      },
    },
    async (_request, reply) => {
      const { ready, reasons } = serverReadiness(app);
      return ready ? reply.code(200).send({ ready }) : reply.code(503).send({ ready: false, reasons });
    },
  );

  app.get('/v2', { schema: { tags: ['health'], response: { 200: serverMetadata } } }, async () => serverMetadataAnswer(app));

  app.get('/metrics', { schema: { tags: ['operations'], description: 'Prometheus metrics.' } }, async (_request, reply) => {
    const body = await app.metrics.text();
    return reply.header('content-type', app.metrics.registry.contentType).send(body);
  });
};
