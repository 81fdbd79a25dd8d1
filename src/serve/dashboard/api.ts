// The dashboard's JSON under /api (read-only; actions go through the admin routes). Scripts may use it too.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_LISTED_RUNS, type ModelSummary, type ModelVersionRecord } from '../../registry/types.ts';
import { MODEL_NAME } from '../../lib/names.ts';
import { bnGuardLimitsOf, bnResiduals, flatEpoch, runSummaryView } from './views.ts';
import { serverStatus } from './status.ts';
import { decisionRegions, withOnnxSession } from './decision-regions.ts';
import { invalidInput, notFound } from '../dataplane/errors.ts';
import { OnnxFactsCache } from './onnx-facts.ts';
import { redactConfigPaths, redactPaths } from './path-redaction.ts';
import { mayReadRawData, rawDataAudience, rawDataHiddenReason } from './raw-data-access.ts';
import { RunRowsCache, signClassesOfConfig } from './run-rows.ts';
import { errorBody, modelParams, versionParams } from '../http/schemas.ts';
import { FLOAT32_MAX, isFiniteWithin } from '../dataplane/tensor-data.ts';
import {
  type BnLayerCheck,
  modelList,
  modelView,
  regionsView,
  runDetail,
  runList,
  type RunDetail,
  serverView,
  versionMetadata,
  type VersionView,
} from './api-schemas.ts';

/** An empty query value ("xMin=") is refused, not read as 0 as z.coerce would. */
function refuseEmpty(value: unknown, ctx: z.RefinementCtx): unknown {
  if (typeof value !== 'string' || value.trim() !== '') return value;
  ctx.addIssue({ code: 'custom', message: 'must be a number, not empty', input: value });
  return z.NEVER;
}
const queryNumber = <T extends z.ZodType>(schema: T) => z.preprocess(refuseEmpty, schema);
/** A grid bound: the models take float32, so larger magnitudes would reach them as ±Infinity. */
const gridBound = queryNumber(
  z.coerce
    .number()
    .refine((v) => isFiniteWithin(v, FLOAT32_MAX), `must be a finite number within ±${FLOAT32_MAX} (float32)`)
    .optional(),
);

const regionsQuery = z.object({
  x: queryNumber(z.coerce.number().int().min(0).default(0)),
  y: queryNumber(z.coerce.number().int().min(0).default(1)),
  resolution: queryNumber(z.coerce.number().int().min(2).max(200).default(60)),
  xMin: gridBound,
  xMax: gridBound,
  yMin: gridBound,
  yMax: gridBound,
});

const runsQuery = z.object({
  name: z.string().max(64).optional(),
  status: z.enum(['running', 'succeeded', 'failed', 'diverged']).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_LISTED_RUNS).optional(),
});

function versionJson(v: ModelVersionRecord): VersionView {
  return {
    name: v.name,
    version: v.version,
    runId: v.runId,
    sha256: v.artifactSha256,
    size: v.artifactSize,
    opset: v.opset,
    task: v.task,
    classLabels: v.classLabels,
    featureNames: v.featureNames,
    inputs: v.inputs,
    outputs: v.outputs,
    parityMaxAbsDiff: v.parityMaxAbsDiff,
    folded: v.folded,
    bnGuardWarning: v.bnGuardWarning,
    createdAt: v.createdAt.toISOString(),
    aliases: v.aliases,
  };
}

function pair(axis: 'x' | 'y', min: number | undefined, max: number | undefined): [number, number] | undefined {
  if (min === undefined && max === undefined) return undefined;
  if (min === undefined || max === undefined) throw invalidInput(`give both ${axis}Min and ${axis}Max, or neither`);
  return [min, max];
}

export const dashboardApiRoutes: FastifyPluginAsyncZod = async (app) => {
  const facts = new OnnxFactsCache();
  const runRows = new RunRowsCache();
  /** Whether this caller may read training rows and server paths; the answer then varies with the token. */
  const rawAccess = (request: FastifyRequest, reply: FastifyReply): boolean => {
    if (rawDataAudience(app.serveConfig) === 'everyone') return true;
    reply.header('vary', 'authorization');
    return mayReadRawData(app.serveConfig, request.headers.authorization);
  };
  const shownError = (error: string | null, raw: boolean) => (raw || error === null ? error : redactPaths(error));
  const factsOf = (v: ModelVersionRecord) => facts.get(v.artifactSha256, () => app.registry.readArtifact(v));
  const tags = ['dashboard'];

  const modelJson = async (m: ModelSummary) => {
    let served = null;
    try {
      const s = app.models.status(m.name);
      served = { defaultVersion: s.defaultVersion, loadedVersions: s.loaded.map((v) => v.version), unloaded: s.unloaded };
    } catch {
      // registered after the server's last registry read: not served yet
    }
    return {
      name: m.name,
      latestVersion: m.latestVersion,
      latestUnflaggedVersion: m.latestUnflaggedVersion > 0 ? m.latestUnflaggedVersion : null,
      aliases: m.aliases,
      served,
      versions: (await app.registry.listVersions(m.name)).map(versionJson),
    };
  };
  const errors = { 400: errorBody, 404: errorBody, 503: errorBody };

  app.get(
    '/api/runs',
    {
      schema: {
        tags,
        description:
          'Training runs, newest first, with their last epoch\'s metrics and BN guard verdict. status "diverged" selects failed runs that diverged.',
        querystring: runsQuery,
        response: { 200: runList, ...errors },
      },
    },
    async (request, reply) => {
      const { name, status, limit } = request.query;
      // A name the registry could never hold matches no run (a filter, not a lookup).
      if (name !== undefined && !MODEL_NAME.test(name)) return { runs: [] };
      const runs = await app.registry.listRuns({ name, status: status === 'diverged' ? 'failed' : status, limit });
      const raw = rawAccess(request, reply);
      const views = runs.map((run) => {
        const view = runSummaryView(run);
        return { ...view, error: shownError(view.error, raw) };
      });
      return { runs: status === 'diverged' ? views.filter((r) => r.diverged) : views };
    },
  );

  app.get(
    '/api/runs/:id',
    {
      schema: {
        tags,
        description:
          "One run: every epoch's metrics, the config as trained (as submitted, defaults filled in), its registered versions and BN guard details.",
        params: z.object({ id: z.string().min(1).max(128) }),
        response: { 200: runDetail, ...errors },
      },
    },
    async (request, reply) => {
      const run = await app.registry.getRun(request.params.id);
      if (!run) throw notFound(`training run ${request.params.id} does not exist`);
      const versions = (await app.registry.listVersions(run.name)).filter((v) => v.runId === run.id);
      const last = run.epochs.at(-1);
      const summary = runSummaryView({
        ...run,
        epochCount: run.epochs.length,
        lastEpoch: last ?? null,
        versions: versions.map((v) => ({ name: v.name, version: v.version, bnGuardWarning: v.bnGuardWarning })),
      });
      let checks: BnLayerCheck[] | null = null;
      if (versions.length > 0) {
        try {
          const guard = JSON.parse((await factsOf(versions.at(-1)!)).metadata.bn_guard ?? 'null');
          if (Array.isArray(guard?.layers)) checks = guard.layers;
        } catch (error) {
          request.log.warn({ err: (error as Error).message }, 'could not read the BN guard details of the registered version');
        }
      }
      const raw = rawAccess(request, reply);
      const detail: RunDetail = {
        ...summary,
        error: shownError(summary.error, raw),
        config: raw ? run.config : redactConfigPaths(run.config),
        epochMetrics: run.epochs.map(flatEpoch),
        registeredVersions: versions.map(versionJson),
        bnGuardDetails: {
          steps: run.bnSteps,
          layers: bnResiduals(run.config, run.bnSteps),
          checks,
          limits: bnGuardLimitsOf(run.config),
        },
      };
      return detail;
    },
  );

  app.get(
    '/api/models',
    {
      schema: {
        tags,
        description: 'Every model with its versions (sha256, parity, folded, metadata, aliases) and what the server serves of it.',
        response: { 200: modelList, ...errors },
      },
    },
    async () => ({ models: await Promise.all((await app.registry.listModels()).map(modelJson)) }),
  );

  app.get(
    '/api/models/:model/versions/:version/decision-regions',
    {
      schema: {
        tags,
        description:
          "The version's answers (its ONNX graph run by onnxruntime on the CPU, outside the serving queues) on a resolution × " +
          "resolution grid over features x and y (indices), with the run's data points; ranges and the other features' values come " +
          "from the run's data (reloaded from its config), else from the graph's standardisation (mean ± 3 std), else xMin/xMax/yMin/yMax. " +
          'Training rows (points, and ranges from them) only for callers allowed raw data (BNSERVE_DASHBOARD_RAW_DATA); pointsHidden says why not.',
        params: versionParams,
        querystring: regionsQuery,
        response: { 200: regionsView, ...errors },
      },
    },
    async (request, reply) => {
      const { model, version } = request.params;
      const record = await app.registry.getVersion(model, version);
      if (!record) throw notFound(`model "${model}" has no version ${version}`);
      const run = record.runId ? await app.registry.getRun(record.runId) : null;
      const { standardization } = await factsOf(record);
      const tabular = record.inputs.length === 1 && record.inputs[0].shape.length === 2 && record.featureNames.length >= 2;
      if (!tabular) throw invalidInput('decision regions need a model of tabular rows with two or more features');
      const raw = rawAccess(request, reply);
      // Callers who may not see the rows never cause a read of them.
      const data = run && raw ? await runRows.get(run.id, run.config) : null;
      const sign = data?.signClasses ?? (run ? signClassesOfConfig(run.config) : undefined);
      const q = request.query;
      const regions = await withOnnxSession(await app.registry.readArtifact(record), (evaluate) =>
        decisionRegions(
          evaluate,
          {
            ...record,
            inputShape: record.inputs[0]?.shape.slice(1) ?? [],
            signLabels: sign ? [`${sign.negative} (< 0)`, `${sign.positive} (≥ 0)`] : null,
            standardization,
            data: data && data.inputShape.length === 1 && data.inputShape[0] === record.featureNames.length ? data : null,
          },
          { x: q.x, y: q.y, resolution: q.resolution, xRange: pair('x', q.xMin, q.xMax), yRange: pair('y', q.yMin, q.yMax) },
        ),
      );
      return { ...regions, pointsHidden: raw || !run ? null : rawDataHiddenReason(app.serveConfig) };
    },
  );

  app.get(
    '/api/models/:model/versions/:version/metadata',
    {
      schema: {
        tags,
        description:
          "The ONNX graph's metadata_props (producer, run id, class labels, feature names, folded, parity, the BN guard's per-layer checks), read from the stored artifact after its sha256 check.",
        params: versionParams,
        response: { 200: versionMetadata, ...errors },
      },
    },
    async (request) => {
      const { model, version } = request.params;
      const record = await app.registry.getVersion(model, version);
      if (!record) throw notFound(`model "${model}" has no version ${version}`);
      return { name: model, version, metadata: (await factsOf(record)).metadata };
    },
  );

  app.get(
    '/api/server',
    {
      schema: {
        tags,
        description: 'Loaded versions, the execution provider each really uses, queue depth, and request/batch histograms.',
        response: { 200: serverView, ...errors },
      },
    },
    async () => serverStatus(app),
  );

  app.get('/api/models/:model', { schema: { tags, params: modelParams, response: { 200: modelView, ...errors } } }, async (request) => {
    const name = request.params.model;
    const summary = (await app.registry.listModels()).find((m) => m.name === name);
    if (!summary) throw notFound(`model "${name}" has no registered versions`);
    return modelJson(summary);
  });
};
