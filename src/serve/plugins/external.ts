import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { usedSchemasOnly } from '../openapi.ts';
import { globalPlugin } from './global-plugin.ts';

export const SERVER_NAME = 'bnserve';
export const SERVER_VERSION = '0.1.0';

/** Third-party plumbing: zod validation/serialisation, JSON for any content type, OpenAPI at /docs. */
export const externalPlugins = globalPlugin('bnserve-external', async (app) => {
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Clients such as `curl -d` often omit the content type; every body we accept is JSON.
  app.removeContentTypeParser(['text/plain']);
  app.addContentTypeParser('*', { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));

  await app.register(fastifySwagger, {
    openapi: {
      info: {
        title: 'bnserve',
        description: 'Batch-normalised networks served with onnxruntime: Open Inference Protocol v2 and TF-Serving style :predict.',
        version: SERVER_VERSION,
      },
      components: { securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } } },
    },
    transform: jsonSchemaTransform,
    transformObject: usedSchemasOnly,
  });
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
});
