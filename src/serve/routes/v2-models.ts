import type { FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { BnserveError } from '../../lib/errors.ts';
import { ModelUnavailableError } from '../errors.ts';
import type { LoadedVersion, TensorInfo } from '../loaded-version.ts';
import { describeFailure } from '../model-manager.ts';
import { errorBody, inferBody, inferResponse, modelMetadata, modelParams, modelReady, versionParams } from '../schemas.ts';
import { v2Datatype } from '../tensor-data.ts';
import type { FastifyRequest } from 'fastify';
import { HEADER_LENGTH, splitBinaryBody } from '../binary-tensors.ts';
import { compressInferenceResponse } from '../response-compression.ts';
import { JSON_MEDIA_TYPES, parseJsonBody, unsupportedMediaType } from '../request-body.ts';
import { fastJson, type InferRequestBody, inferTensors, sendInferResult, withModel } from './inference.ts';

const tensorMeta = (t: TensorInfo) => ({ name: t.name, datatype: v2Datatype(t.type), shape: t.shape });

/** Open Inference Protocol model metadata with bnserve's additions (REST answers all of it, gRPC the protocol's fields). */
export function v2ModelMetadata(app: FastifyInstance, v: LoadedVersion) {
  const status = app.models.status(v.name);
  const readiness = app.models.modelReadiness(v.name);
  return {
    name: v.name,
    versions: status.loaded.map((l) => String(l.version)),
    platform: 'onnxruntime_onnx',
    inputs: v.inputs.map(tensorMeta),
    outputs: v.outputs.map(tensorMeta),
    version: String(v.version),
    execution_provider: v.provider,
    task: v.record.task,
    labels: v.record.classLabels,
    feature_names: v.record.featureNames,
    aliases: status.aliases,
    load_errors: status.failures.map((f) => ({ version: f.version, error: f.reason, retrying: !f.permanent, at: f.at.toISOString() })),
    ready: !v.isReleased && readiness.ready,
    reasons: readiness.reasons,
  };
}

/**
 * A model is ready when its default version and every alias target are served (Triton: all the
 * versions that should be ready are); a version by number when it is loaded. 503 answers say why.
 */
export async function modelReadyAnswer(app: FastifyInstance, model: string, version: number | undefined) {
  try {
    const v = app.models.peek(model, version);
    const reasons = version === undefined ? app.models.modelReadiness(model).reasons : [];
    if (reasons.length > 0) {
      return { code: 503 as const, body: { name: model, version: String(v.version), ready: false, error: reasons.join('; '), reasons } };
    }
    return { code: 200 as const, body: { name: model, version: String(v.version), ready: !v.isReleased } };
  } catch (err) {
    const failure =
      version !== undefined && err instanceof BnserveError && err.code === 'not_found' ? app.models.failure(model, version) : null;
    if (failure) {
      const error = `model "${model}" ${describeFailure(failure)}`;
      return { code: 503 as const, body: { name: model, version: String(version), ready: false, error, reasons: [error] } };
    }
    if (err instanceof ModelUnavailableError) {
      return { code: 503 as const, body: { name: model, ready: false, error: err.message, reasons: [err.message] } };
    }
    throw err;
  }
}

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
    inferTensors(app, v, request.body, binaryBodies.get(request));

  app.get(
    '/v2/models/:model',
    { schema: { tags: ['v2'], params: modelParams, response: { 200: modelMetadata, ...errors } } },
    async (request, reply) => withModel(app, request, reply, request.params.model, undefined, async (v) => v2ModelMetadata(app, v)),
  );
  app.get(
    '/v2/models/:model/versions/:version',
    { schema: { tags: ['v2'], params: versionParams, response: { 200: modelMetadata, ...errors } } },
    async (request, reply) =>
      withModel(app, request, reply, request.params.model, request.params.version, async (v) => v2ModelMetadata(app, v)),
  );

  const ready = (model: string, version: number | undefined) => modelReadyAnswer(app, model, version);
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
