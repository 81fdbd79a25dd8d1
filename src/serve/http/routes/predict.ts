import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { ownValue } from '../../../lib/own-value.ts';
import { activeServerTrace } from '../../../tracing/spans.ts';
import { notFound } from '../../dataplane/errors.ts';
import { assertTakesRows, type PredictResult } from '../../dataplane/inference.ts';
import type { LoadedVersion } from '../../dataplane/loaded-version.ts';
import { assertFiniteOutput } from '../../dataplane/predictions.ts';
import { aliasParams, errorBody, modelParams, versionParams } from '../schemas.ts';
import { rowsToTensor } from '../../dataplane/tensor-data.ts';
import {
  columnarRows,
  modelMetadata,
  modelMetadataResponse,
  modelVersionStatus,
  nest,
  predictBody,
  predictResponse,
  versionStatuses,
} from '../tf-serving.ts';
import { fastJson, withModel } from './inference.ts';

const errors = { 400: errorBody, 404: errorBody, 413: errorBody, 415: errorBody, 422: errorBody, 503: errorBody };

type PredictBody = z.infer<ReturnType<typeof predictBody>>;

/** The columnar form: the whole input tensor in, every output tensor out (one output: the tensor itself, as TF Serving does). */
async function predictColumns(app: FastifyInstance, v: LoadedVersion, inputs: NonNullable<PredictBody['inputs']>) {
  assertTakesRows(v);
  const rows = columnarRows(inputs, v, app.serveConfig.limits.maxRows);
  activeServerTrace()?.rows(rows.length);
  const data = rowsToTensor(rows, { target: v.inputType, rowShape: v.rowShape, featureNames: v.record.featureNames, label: 'inputs' });
  const result = await v.runRows(data, rows.length);
  app.metrics.observeInference(v.name, v.version, result);
  const tensors = v.outputs.map((o) => {
    const t = result.outputs[o.name];
    assertFiniteOutput(o.name, t);
    return [o.name, nest(t.data, t.shape)] as const;
  });
  return { outputs: tensors.length === 1 ? tensors[0][1] : Object.fromEntries(tensors), model_version: v.version };
}

type PredictAnswer = PredictResult | Awaited<ReturnType<typeof predictColumns>>;

function predict(app: FastifyInstance, body: PredictBody, requestId: string) {
  return (v: LoadedVersion): Promise<PredictAnswer> => {
    if (body.inputs !== undefined) return predictColumns(app, v, body.inputs);
    const instances = body.instances ?? [];
    activeServerTrace()?.rows(instances.length);
    return app.dataPlane.predictRows(v, instances, requestId);
  };
}

/**
 * TensorFlow Serving's REST API: :predict, model status and model metadata, by default version,
 * version number, or alias ("labels"). The regex keeps the model segment free of ':' so that the
 * literal ':predict' suffix ('::' escapes a colon) matches.
 */
export const predictRoutes: FastifyPluginAsyncZod = async (app) => {
  const body = predictBody(app.serveConfig.limits);
  const schema = { tags: ['predict'], body, response: { 200: predictResponse, ...errors } };
  const serializerCompiler = fastJson;

  app.post(
    '/v1/models/:model(^[^:/]+)::predict',
    { schema: { ...schema, params: modelParams }, serializerCompiler },
    async (request, reply) => withModel(app, request, reply, request.params.model, undefined, predict(app, request.body, request.id)),
  );
  app.post(
    '/v1/models/:model/versions/:version(^[^:/]+)::predict',
    { schema: { ...schema, params: versionParams }, serializerCompiler },
    async (request, reply) =>
      withModel(app, request, reply, request.params.model, request.params.version, predict(app, request.body, request.id)),
  );
  app.post(
    '/v1/models/:model/labels/:alias(^[^:/]+)::predict',
    { schema: { ...schema, params: aliasParams }, serializerCompiler },
    async (request, reply) =>
      withModel(app, request, reply, request.params.model, request.params.alias, predict(app, request.body, request.id)),
  );

  // Model status: loaded versions are AVAILABLE; a version whose last load failed is END with its short reason.
  const statusSchema = { tags: ['predict'], response: { 200: modelVersionStatus, 400: errorBody, 404: errorBody } };
  app.get('/v1/models/:model', { schema: { ...statusSchema, params: modelParams } }, async (request) => ({
    model_version_status: versionStatuses(app.models.status(request.params.model)),
  }));
  const oneVersion = (model: string, version: number) => {
    const entries = versionStatuses(app.models.status(model), version);
    if (entries.length === 0) throw notFound(`model "${model}" version ${version} is not loaded`);
    return { model_version_status: entries };
  };
  app.get('/v1/models/:model/versions/:version', { schema: { ...statusSchema, params: versionParams } }, async (request) =>
    oneVersion(request.params.model, request.params.version),
  );
  app.get('/v1/models/:model/labels/:alias', { schema: { ...statusSchema, params: aliasParams } }, async (request) => {
    const { model, alias } = request.params;
    const status = app.models.status(model);
    const version = ownValue(status.aliases, alias) ?? ownValue(status.registryAliases, alias);
    if (version === undefined) throw notFound(`model "${model}" has no alias "${alias}"`);
    return oneVersion(model, version);
  });

  const metadataSchema = { tags: ['predict'], response: { 200: modelMetadataResponse, ...errors } };
  const metadata = async (v: LoadedVersion) => modelMetadata(v);
  app.get('/v1/models/:model/metadata', { schema: { ...metadataSchema, params: modelParams } }, async (request, reply) =>
    withModel(app, request, reply, request.params.model, undefined, metadata),
  );
  app.get(
    '/v1/models/:model/versions/:version/metadata',
    { schema: { ...metadataSchema, params: versionParams } },
    async (request, reply) => withModel(app, request, reply, request.params.model, request.params.version, metadata),
  );
  app.get('/v1/models/:model/labels/:alias/metadata', { schema: { ...metadataSchema, params: aliasParams } }, async (request, reply) =>
    withModel(app, request, reply, request.params.model, request.params.alias, metadata),
  );
};
