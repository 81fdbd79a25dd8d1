// POST /admin/models/{model}/import: the ONNX bytes of a PyTorch or Keras export become a new version,
// through the same import as `bnserve import` (training-mode BN refused, BN folded, parity proven).
// Its own plugin: it alone reads application/octet-stream bodies, up to its own limit.
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { registerImport } from '../../../export/graph/register-import.ts';
import { PRECISIONS } from '../../../export/quantize/precision.ts';
import { HttpError } from '../http-errors.ts';
import { errorBody, modelParams } from '../schemas.ts';
import { requireAdminToken } from './admin.ts';

const ONNX_MEDIA_TYPES = ['application/octet-stream', 'application/onnx'];

const importQuery = z.object({
  task: z.enum(['regression', 'classification']).default('regression'),
  labels: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v === '' ? undefined : v.split(','))),
  tolerance: z.coerce.number().positive().optional(),
  precision: z.enum(PRECISIONS).default('fp32'),
  min_agreement: z.coerce.number().gt(0).max(1).optional(),
  alias: z.string().optional(),
  force: z
    .enum(['true', 'false', '1', '0'])
    .optional()
    .transform((v) => v === 'true' || v === '1'),
});

const importResponse = z.object({
  name: z.string(),
  version: z.number().int(),
  already_registered: z.boolean(),
  sha256: z.string(),
  original_sha256: z.string(),
  producer: z.string(),
  opset: z.number().int(),
  batch_norms: z.number().int(),
  folded: z.boolean(),
  folds: z.array(z.object({ node: z.string(), into: z.string().nullable(), op: z.string() })),
  parity: z.object({ max_abs_diff: z.number(), max_scaled_diff: z.number(), rows: z.number().int(), tolerance: z.number() }),
  bn_guard_warning: z.string().nullable(),
  precision: z.enum(PRECISIONS),
  /** Top-1 agreement with the fp32 graph on the gate's rows, for int8/fp16; null for fp32. */
  agreement: z.number().nullable(),
  alias: z.string().nullable(),
  warnings: z.array(z.string()),
});

export const adminImportRoutes: FastifyPluginAsyncZod = async (app) => {
  requireAdminToken(app);
  const limit = app.serveConfig.limits.importLimit;
  for (const type of ONNX_MEDIA_TYPES) if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type);
  app.addContentTypeParser(ONNX_MEDIA_TYPES, { parseAs: 'buffer', bodyLimit: limit }, (_request, body, done) => done(null, body));

  app.post(
    '/admin/models/:model/import',
    {
      bodyLimit: limit,
      schema: {
        tags: ['admin'],
        security: [{ adminToken: [] }],
        description:
          'The body is an ONNX file (Content-Type: application/octet-stream). Training-mode BatchNormalization is refused (400); ' +
          'every BN is folded and the folded graph checked against the original on 16 seeded random rows (parity, 422 when it fails); ' +
          'statistics never updated are registered flagged (never the default; `alias` then needs `force`). The same bytes again register nothing.',
        params: modelParams,
        querystring: importQuery,
        response: {
          200: importResponse,
          400: errorBody,
          401: errorBody,
          403: errorBody,
          409: errorBody,
          413: errorBody,
          415: errorBody,
          422: errorBody,
        },
      },
    },
    async (request) => {
      if (!Buffer.isBuffer(request.body) || request.body.length === 0) {
        throw new HttpError(415, 'send the ONNX file as the body with Content-Type: application/octet-stream');
      }
      const q = request.query;
      if (q.labels && q.task !== 'classification') throw new HttpError(400, 'labels only apply with task=classification');
      const { result } = await registerImport(
        {
          onnx: new Uint8Array(request.body),
          name: request.params.model,
          task: q.task,
          labels: q.labels,
          tolerance: q.tolerance,
          precision: q.precision,
          minAgreement: q.min_agreement,
        },
        app.registry,
      );
      await app.models.refreshAll();
      if (q.alias !== undefined) await app.models.promote(result.name, result.version, q.alias, { force: q.force });
      return {
        name: result.name,
        version: result.version,
        already_registered: result.alreadyRegistered,
        sha256: result.sha256,
        original_sha256: result.originalSha256,
        producer: result.producer,
        opset: result.opset,
        batch_norms: result.batchNorms,
        folded: result.folded,
        folds: result.folds,
        parity: {
          max_abs_diff: result.parity.maxAbsDiff,
          max_scaled_diff: result.parity.maxScaledDiff,
          rows: result.parity.rows,
          tolerance: result.parity.tolerance,
        },
        bn_guard_warning: result.bnGuardWarning,
        precision: result.precision,
        agreement: result.accuracy?.agreement ?? null,
        alias: q.alias ?? null,
        warnings: result.warnings,
      };
    },
  );
};
