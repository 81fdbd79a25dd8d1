import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { aliasParams, errorBody, modelParams, predictBody, predictResponse, versionParams } from '../schemas.ts';
import { fastJson, predictRows, withModel } from './inference.ts';

const errors = { 400: errorBody, 404: errorBody, 413: errorBody, 415: errorBody, 422: errorBody, 503: errorBody };

/**
 * TF-Serving style :predict by default version, version number, or alias. The regex keeps the
 * model segment free of ':' so that the literal ':predict' suffix ('::' escapes a colon) matches.
 */
export const predictRoutes: FastifyPluginAsyncZod = async (app) => {
  const body = predictBody(app.serveConfig.limits);
  const schema = { tags: ['predict'], body, response: { 200: predictResponse, ...errors } };
  const serializerCompiler = fastJson;

  app.post(
    '/v1/models/:model(^[^:/]+)::predict',
    { schema: { ...schema, params: modelParams }, serializerCompiler },
    async (request, reply) =>
      withModel(app, request, reply, request.params.model, undefined, (v) => predictRows(app, v, request.body.instances)),
  );
  app.post(
    '/v1/models/:model/versions/:version(^[^:/]+)::predict',
    { schema: { ...schema, params: versionParams }, serializerCompiler },
    async (request, reply) =>
      withModel(app, request, reply, request.params.model, request.params.version, (v) => predictRows(app, v, request.body.instances)),
  );
  app.post(
    '/v1/models/:model/labels/:alias(^[^:/]+)::predict',
    { schema: { ...schema, params: aliasParams }, serializerCompiler },
    async (request, reply) =>
      withModel(app, request, reply, request.params.model, request.params.alias, (v) => predictRows(app, v, request.body.instances)),
  );
};
