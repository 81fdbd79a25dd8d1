import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { LoadedVersion } from '../../dataplane/loaded-version.ts';
import { errorBody, inferBody, inferResponse, modelMetadata, modelParams, modelReady, versionParams } from '../schemas.ts';
import type { FastifyRequest } from 'fastify';
import { HEADER_LENGTH, splitBinaryBody } from '../binary-tensors.ts';
import { compressInferenceResponse } from '../response-compression.ts';
import { JSON_MEDIA_TYPES, parseJsonBody, unsupportedMediaType } from '../request-body.ts';
import { fastJson, type InferRequestBody, inferTensors, sendInferResult, withModel } from './inference.ts';

/** The binary part of each binary-extension request, next to its parsed (and validated) JSON header. */
const binaryBodies = new WeakMap<FastifyRequest, Buffer>();

const errors = { 400: errorBody, 404: errorBody, 413: errorBody, 415: errorBody, 422: errorBody, 503: errorBody };

/** Open Inference Protocol v2 per-model routes, with and without /versions/{v}. */
export const v2ModelRoutes: FastifyPluginAsyncZod = async (app) => {
  const body = inferBody(app.serveConfig.limits);

  // Binary tensor extension: whatever JSON content type (application/octet-stream, JSON, or none as
  // Triton's sync client sends), a body with Inference-Header-Content-Length is a JSON header
  // followed by raw tensor bytes; without it, the body is JSON. Scoped to this plugin's routes.
  const parse = (request: FastifyRequest, buffer: Buffer, done: (err: Error | null, body?: unknown) => void) => {
    try {
      const headerLength = request.headers[HEADER_LENGTH];
      if (headerLength === undefined) return done(null, parseJsonBody(buffer.toString('utf8')));
      const parts = splitBinaryBody(buffer, String(headerLength));
      binaryBodies.set(request, parts.binary);
      // A wrong header length cuts the JSON short (or runs into the bytes): say which number to check.
      const what = `the JSON header of ${parts.headerBytes} bytes (from Inference-Header-Content-Length)`;
      const hint = '; Inference-Header-Content-Length must count exactly the bytes of the JSON that starts the body';
      done(null, parseJsonBody(parts.header, what, hint));
    } catch (err) {
      done(err as Error, undefined);
    }
  };
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(JSON_MEDIA_TYPES, { parseAs: 'buffer' }, (request, raw, done) => parse(request, raw as Buffer, done));
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (request, raw, done) => {
    const type = request.headers['content-type'];
    if (type !== undefined && type.trim() !== '') return done(unsupportedMediaType(type), undefined);
    parse(request, raw as Buffer, done);
  });
  const infer = (request: FastifyRequest & { body: InferRequestBody }) => (v: LoadedVersion) =>
    inferTensors(app.dataPlane, v, request.body, binaryBodies.get(request), request.id);

  app.get(
    '/v2/models/:model',
    { schema: { tags: ['v2'], params: modelParams, response: { 200: modelMetadata, ...errors } } },
    async (request, reply) => withModel(app, request, reply, request.params.model, undefined, async (v) => app.dataPlane.modelMetadata(v)),
  );
  app.get(
    '/v2/models/:model/versions/:version',
    { schema: { tags: ['v2'], params: versionParams, response: { 200: modelMetadata, ...errors } } },
    async (request, reply) =>
      withModel(app, request, reply, request.params.model, request.params.version, async (v) => app.dataPlane.modelMetadata(v)),
  );

  const ready = (model: string, version: number | undefined) => app.dataPlane.modelReady(model, version);
  const readyResponses = { 200: modelReady, 503: modelReady, 400: errorBody, 404: errorBody };
  app.get(
    '/v2/models/:model/ready',
    { schema: { tags: ['v2'], params: modelParams, response: readyResponses } },
    async (request, reply) => {
      const r = await ready(request.params.model, undefined);
      return reply.code(r.code).send(r.body);
    },
  );
  app.get(
    '/v2/models/:model/versions/:version/ready',
    { schema: { tags: ['v2'], params: versionParams, response: readyResponses } },
    async (request, reply) => {
      const r = await ready(request.params.model, request.params.version);
      return reply.code(r.code).send(r.body);
    },
  );

  app.post(
    '/v2/models/:model/infer',
    {
      schema: { tags: ['v2'], params: modelParams, body, response: { 200: inferResponse, ...errors } },
      serializerCompiler: fastJson,
      onSend: compressInferenceResponse,
    },
    async (request, reply) => sendInferResult(reply, await withModel(app, request, reply, request.params.model, undefined, infer(request))),
  );
  app.post(
    '/v2/models/:model/versions/:version/infer',
    {
      schema: { tags: ['v2'], params: versionParams, body, response: { 200: inferResponse, ...errors } },
      serializerCompiler: fastJson,
      onSend: compressInferenceResponse,
    },
    async (request, reply) =>
      sendInferResult(reply, await withModel(app, request, reply, request.params.model, request.params.version, infer(request))),
  );
};
