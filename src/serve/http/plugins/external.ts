import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { SERVER_VERSION } from '../../dataplane/data-plane.ts';
import { DOCS_CSP, usedSchemasOnly } from '../openapi.ts';
import { decodedBody, JSON_MEDIA_TYPES, parseJsonBody, unsupportedMediaType } from '../request-body.ts';

/** Third-party plumbing: zod validation/serialisation, JSON for any content type, OpenAPI at /docs. */
export const externalPlugins = fp(
  async (app) => {
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);

    // gzip/deflate request bodies (Triton's and KServe's request_compression_algorithm), bounded
    // by the body limit after decompression.
    const limit = app.initialConfig.bodyLimit ?? 1024 * 1024;
    // Callback-style hooks on the request path: an async hook costs a promise and a microtask turn per request.
    app.addHook('preParsing', (request, _reply, payload, done) => {
      try {
        done(null, decodedBody(payload, request.headers['content-encoding'], limit));
      } catch (err) {
        done(err as Error);
      }
    });

    // Every body we accept is JSON, under the content types clients really send (see JSON_MEDIA_TYPES);
    // other types get a 415 that names the accepted ones.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser(JSON_MEDIA_TYPES, { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseJsonBody(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });
    app.addContentTypeParser('*', { parseAs: 'string' }, (request, body, done) => {
      const type = request.headers['content-type'];
      if (type !== undefined && type.trim() !== '') return done(unsupportedMediaType(type), undefined);
      try {
        done(null, parseJsonBody(body as string));
      } catch (err) {
        done(err as Error, undefined);
      }
    });

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
    await app.register(fastifySwaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });
  },
  { name: 'bnserve-external', fastify: '5.x' },
);
