import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SERVER_NAME, SERVER_VERSION } from '../plugins/external.ts';
import { serverMetadata } from '../schemas.ts';

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
        description: '200 once every model version the registry asks for is loaded (or reported as failed).',
        response: { 200: z.object({ ready: z.boolean() }), 503: z.object({ ready: z.boolean() }) },
      },
    },
    async (_request, reply) => {
      const ready = app.models.ready;
      return reply.code(ready ? 200 : 503).send({ ready });
    },
  );

  app.get('/v2', { schema: { tags: ['health'], response: { 200: serverMetadata } } }, async () => ({
    name: SERVER_NAME,
    version: SERVER_VERSION,
    extensions: ['model_repository', 'tf_serving_predict', 'binary_tensor_data'],
  }));

  app.get('/metrics', { schema: { tags: ['operations'], description: 'Prometheus metrics.' } }, async (_request, reply) => {
    const body = await app.metrics.registry.metrics();
    return reply.header('content-type', app.metrics.registry.contentType).send(body);
  });
};
