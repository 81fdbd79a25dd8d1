// Row ↔ record conversions: the only place that knows how values are laid out in the database.
import path from 'node:path';
import { checkBatchingOverride } from '../lib/batching.ts';
import type { EpochMetric, ModelSettings, ModelVersion, TrainingRun } from './generated/sqlite/client.ts';
import type { EpochMetricInput, ModelSettingsRecord, ModelVersionRecord, TensorSignature, TrainingRunRecord } from './types.ts';

/** Float columns are NULL for non-finite values (NaN/±Infinity after a divergence). */
export function finiteOrNull(value: number): number | null {
  return Number.isFinite(value) ? value : null;
}

export function nullToNaN(value: number | null): number {
  return value ?? Number.NaN;
}

export function metricsToJson(metrics: Record<string, number>): Record<string, number | null> {
  // fromEntries defines keys, so a metric named "__proto__" stays a metric instead of setting the prototype.
  return Object.fromEntries(
    Object.entries(metrics ?? {})
      .filter(([, value]) => typeof value === 'number')
      .map(([key, value]) => [key, finiteOrNull(value)]),
  );
}

export function metricsFromJson(json: unknown): Record<string, number> {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return {};
  return Object.fromEntries(Object.entries(json).map(([key, value]) => [key, typeof value === 'number' ? value : Number.NaN]));
}

export function toRunRecord(row: TrainingRun): TrainingRunRecord {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    backend: row.backend,
    config: row.config,
    seed: row.seed,
    bnSteps: row.bnSteps,
    error: row.error,
    startedAt: row.startedAt,
    finishedAt: row.finishedAt,
    heartbeatAt: row.heartbeatAt,
  };
}

export function toEpochInput(row: EpochMetric): EpochMetricInput {
  return {
    epoch: row.epoch,
    loss: nullToNaN(row.loss),
    dataLoss: nullToNaN(row.dataLoss),
    regularizationLoss: nullToNaN(row.regularizationLoss),
    metrics: metricsFromJson(row.metrics),
  };
}

export function toVersionRecord(row: ModelVersion & { aliases: { alias: string }[] }, storeRoot: string): ModelVersionRecord {
  return {
    id: row.id,
    name: row.name,
    version: row.version,
    runId: row.runId,
    artifactSha256: row.artifactSha256,
    artifactSize: row.artifactSize,
    artifactPath: path.resolve(storeRoot, row.artifactPath),
    opset: row.opset,
    inputs: row.inputs as unknown as TensorSignature[],
    outputs: row.outputs as unknown as TensorSignature[],
    task: row.task,
    classLabels: row.classLabels as string[],
    featureNames: row.featureNames as string[],
    parityMaxAbsDiff: row.parityMaxAbsDiff,
    folded: row.folded,
    bnGuardWarning: row.bnGuardWarning,
    createdAt: row.createdAt,
    aliases: row.aliases.map((a) => a.alias).sort(),
  };
}

/** A stored batching value that is not an override (hand-edited, another bnserve's knobs) is reported, not thrown: one bad row must not stop a poll. */
export function toModelSettingsRecord(row: ModelSettings): ModelSettingsRecord {
  const { override, problem } = checkBatchingOverride(row.batching);
  return {
    name: row.name,
    batching: override ?? {},
    problem: problem === null ? null : `the stored batching override is not valid (${problem})`,
    updatedAt: row.updatedAt,
  };
}
