import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { serverMetadata, serverReady } from '../schemas.ts';

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
          'version and every alias target of each model are served (none failed its last load). 503 with the reasons otherwise. ' +
          'With BNSERVE_STRICT_READINESS=false: 200 while every default and alias has some version serving; `?strict=true` ' +
          'asks for the strict answer whatever the setting (for alerts).',
        querystring: z.object({ strict: z.enum(['true', 'false']).optional() }),
        response: { 200: serverReady, 503: serverReady },
      },
    },
    async (request, reply) => {
      const strict = request.query.strict === undefined ? undefined : request.query.strict === 'true';
      const { ready, reasons } = app.dataPlane.serverReadiness(strict);
      return ready ? reply.code(200).send({ ready }) : reply.code(503).send({ ready: false, reasons });
    },
  );

  app.get('/v2', { schema: { tags: ['health'], response: { 200: serverMetadata } } }, async () => app.dataPlane.serverMetadata());

  app.get('/metrics', { schema: { tags: ['operations'], description: 'Prometheus metrics.' } }, async (_request, reply) => {
    const body = await app.metrics.text();
    return reply.header('content-type', app.metrics.registry.contentType).send(body);
  });
};
