// The dashboard API's answers (/api/...), as zod schemas and the types inferred from them: the routes
// (api.ts) validate and document with the schemas, the UI (ui/src/api.ts) imports the types, so the
// two cannot drift. No server runtime here (zod and pure modules only): `tsc -p ui` type-checks it.
import { z } from 'zod';
import { BN_VERDICTS } from '../../lib/bn.ts';
import { tensorMetadata } from '../dataplane/tensor-metadata.ts';

export const metricValues = z.record(z.string(), z.number().nullable());

const bnGuardVerdict = z.object({ verdict: z.enum(BN_VERDICTS), detail: z.string().nullable() });

export const runSummary = z
  .object({
    id: z.string(),
    name: z.string(),
    status: z.enum(['running', 'succeeded', 'failed']),
    diverged: z.boolean(),
    backend: z.string(),
    seed: z.number().nullable(),
    epochs: z.number(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    durationSeconds: z.number().nullable(),
    error: z.string().nullable(),
    finalMetrics: metricValues.nullable(),
    bnGuard: bnGuardVerdict,
    versions: z.array(z.object({ name: z.string(), version: z.number() })),
  })
  .meta({ id: 'DashboardRunSummary' });

export const runList = z.object({ runs: z.array(runSummary) });

export const versionView = z
  .object({
    name: z.string(),
    version: z.number(),
    runId: z.string().nullable(),
    sha256: z.string(),
    size: z.number(),
    opset: z.number(),
    task: z.enum(['classification', 'regression']),
    classLabels: z.array(z.string()),
    featureNames: z.array(z.string()),
    inputs: z.array(tensorMetadata),
    outputs: z.array(tensorMetadata),
    parityMaxAbsDiff: z.number(),
    folded: z.boolean(),
    bnGuardWarning: z.string().nullable(),
    createdAt: z.string(),
    aliases: z.array(z.string()),
  })
  .meta({ id: 'DashboardVersion' });

export const bnLayerCheck = z.object({ name: z.string(), meanGap: z.number(), varianceRatio: z.number() });

export const runDetail = runSummary
  .extend({
    config: z.unknown(),
    epochMetrics: z.array(metricValues),
    registeredVersions: z.array(versionView),
    bnGuardDetails: z.object({
      steps: z.number().nullable(),
      layers: z.array(z.object({ index: z.number(), momentum: z.number(), residual: z.number().nullable() })),
      /** The guard's comparison of each layer's moving statistics with the data (from the exported graph). */
      checks: z.array(bnLayerCheck).nullable(),
      /** The limits the run was checked against: its config's bnGuard, the defaults for any it lacks. */
      limits: z.object({ maxResidual: z.number(), maxMeanGap: z.number(), maxVarianceRatio: z.number() }),
    }),
  })
  .meta({ id: 'DashboardRunDetail' });

export const modelView = z.object({
  name: z.string(),
  latestVersion: z.number(),
  /** null when the BN guard flagged every version. */
  latestUnflaggedVersion: z.number().nullable(),
  aliases: z.record(z.string(), z.number()),
  served: z.object({ defaultVersion: z.number().nullable(), loadedVersions: z.array(z.number()), unloaded: z.boolean() }).nullable(),
  versions: z.array(versionView),
});

export const modelList = z.object({ models: z.array(modelView) });

export const versionMetadata = z.object({ name: z.string(), version: z.number(), metadata: z.record(z.string(), z.string()) });

export const histogram = z.object({
  name: z.string(),
  help: z.string(),
  /** Upper bounds ("+Inf" last) with the count of observations in each bucket (not cumulative). */
  buckets: z.array(z.object({ le: z.string(), count: z.number() })),
  count: z.number(),
  sum: z.number(),
});

export const serverView = z.object({
  time: z.string(),
  uptimeSeconds: z.number(),
  ready: z.boolean(),
  registryAvailable: z.boolean(),
  configuredProviders: z.array(z.string()),
  adminEnabled: z.boolean(),
  queueDepth: z.number(),
  models: z.array(
    z.object({
      name: z.string(),
      unloaded: z.boolean(),
      defaultVersion: z.number().nullable(),
      aliases: z.record(z.string(), z.number()),
      loaded: z.array(
        z.object({
          version: z.number(),
          executionProvider: z.string(),
          inflight: z.number(),
          queued: z.number(),
          runningBatches: z.number(),
          loadedAt: z.string(),
          /** What the memory budget counts for it: its load's RSS growth, at least its artifact size. */
          memoryBytes: z.number(),
        }),
      ),
      failures: z.array(z.object({ version: z.number(), reason: z.string(), retrying: z.boolean() })),
      /** Versions the memory budget unloaded (their next request loads them again). */
      evicted: z.array(z.number()),
    }),
  ),
  requestsByStatus: z.record(z.string(), z.number()),
  histograms: z.array(histogram),
  /** BNSERVE_MAX_LOADED_VERSIONS / BNSERVE_MODEL_MEMORY_MB (0: no limit) and what they hold now. */
  budget: z.object({
    enabled: z.boolean(),
    maxVersions: z.number(),
    memoryMb: z.number(),
    loadedVersions: z.number(),
    memoryBytes: z.number(),
    /** Busy versions keep the server over its budget until they drain. */
    over: z.boolean(),
    loads: z.number(),
    evictions: z.number(),
    coldStarts: z.number(),
    /** Mean seconds of the on-demand loads; null before the first. */
    coldStartMeanSeconds: z.number().nullable(),
  }),
  responseCache: z.object({
    enabled: z.boolean(),
    hits: z.number(),
    misses: z.number(),
    /** hits / (hits + misses); null before the first lookup. */
    hitRatio: z.number().nullable(),
  }),
  payloadLog: z.object({ enabled: z.boolean(), written: z.number(), dropped: z.record(z.string(), z.number()) }),
});

export const regionsView = z.object({
  features: z.tuple([z.string(), z.string()]),
  classes: z.array(z.string()),
  xRange: z.tuple([z.number(), z.number()]),
  yRange: z.tuple([z.number(), z.number()]),
  resolution: z.number(),
  /** Other features held at their mean over the run's data. */
  heldAt: z.record(z.string(), z.number()),
  /** Row-major from (xMin, yMin): class index of each grid point. */
  cells: z.array(z.number()),
  /** The winning class's probability (|output| for a sign classifier). */
  confidence: z.array(z.number()),
  /** The run's data (a bounded sample): the two features and the class index. */
  points: z.array(z.object({ x: z.number(), y: z.number(), label: z.number() })),
  /** Why `points` is empty for this caller (training rows are shown to admins only); null when they are shown. */
  pointsHidden: z.string().nullable(),
});

export type MetricValues = z.infer<typeof metricValues>;
export type RunSummary = z.infer<typeof runSummary>;
export type RunList = z.infer<typeof runList>;
export type VersionView = z.infer<typeof versionView>;
export type BnLayerCheck = z.infer<typeof bnLayerCheck>;
export type RunDetail = z.infer<typeof runDetail>;
export type ModelView = z.infer<typeof modelView>;
export type ModelList = z.infer<typeof modelList>;
export type VersionMetadata = z.infer<typeof versionMetadata>;
export type Histogram = z.infer<typeof histogram>;
export type ServerView = z.infer<typeof serverView>;
export type DecisionRegionsView = z.infer<typeof regionsView>;
