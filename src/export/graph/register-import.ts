// Registers an imported ONNX model as a new version of a model: the one path for the CLI
// (`bnserve import`) and the admin API (POST /admin/models/{model}/import).
import { createHash } from 'node:crypto';
import type { ModelVersionRecord, Registry } from '../../registry/types.ts';
import { importOnnx } from './import-model.ts';
import type { Feeds } from './run-graph.ts';
import type { Accuracy, Precision } from '../quantize/precision.ts';

export interface RegisterImportOptions {
  onnx: Uint8Array;
  name: string;
  sample?: Feeds | null;
  tolerance?: number;
  task?: 'classification' | 'regression';
  labels?: string[];
  precision?: Precision;
  minAgreement?: number;
}

export interface RegisterImportResult {
  name: string;
  version: number;
  /** True when these exact bytes were already a version of the model: nothing new was registered. */
  alreadyRegistered: boolean;
  sha256: string;
  originalSha256: string;
  producer: string;
  opset: number;
  batchNorms: number;
  folded: boolean;
  folds: Array<{ node: string; into: string | null; op: string }>;
  parity: { maxAbsDiff: number; maxScaledDiff: number; rows: number; tolerance: number; sample: boolean };
  drift: Array<{ name: string; meanGap: number; varianceRatio: number }> | null;
  bnGuardWarning: string | null;
  precision: Precision;
  /** The reduced-precision graph against fp32 (null for fp32). */
  accuracy: Accuracy | null;
  warnings: string[];
}

/**
 * Import (refusals, fold, parity), then one model version row; the same folded bytes under the same
 * task are never registered twice (the existing version is returned). `record` is that version.
 */
export async function registerImport(
  options: RegisterImportOptions,
  registry: Registry,
): Promise<{ result: RegisterImportResult; record: ModelVersionRecord }> {
  const imported = await importOnnx({
    onnx: options.onnx,
    sample: options.sample,
    tolerance: options.tolerance,
    precision: options.precision,
    minAgreement: options.minAgreement,
  });
  const task = options.task ?? 'regression';
  const sha256 = createHash('sha256').update(imported.onnx).digest('hex');
  const existing = (await registry.listVersions(options.name)).find((v) => v.artifactSha256 === sha256 && v.task === task);
  const warnings = imported.folds.filter((f) => f.into === null).map((f) => `${f.node} had no foldable producer; it is a Mul + Add`);
  if (existing) warnings.push(`these bytes are already ${options.name} version ${existing.version}: nothing new was registered`);
  const record =
    existing ??
    (await registry.registerVersion({
      name: options.name,
      runId: null,
      artifact: imported.onnx,
      opset: imported.opset,
      inputs: imported.inputs,
      outputs: imported.outputs,
      task,
      classLabels: options.labels ?? [],
      featureNames: [],
      parityMaxAbsDiff: imported.parity.maxAbsDiff,
      folded: imported.folds.length > 0,
      bnGuardWarning: imported.bnGuardWarning,
    }));
  return {
    record,
    result: {
      name: record.name,
      version: record.version,
      alreadyRegistered: existing !== undefined,
      sha256,
      originalSha256: imported.originalSha256,
      producer: imported.producer,
      opset: imported.opset,
      batchNorms: imported.batchNorms,
      folded: record.folded,
      folds: imported.folds,
      parity: imported.parity,
      drift: imported.drift,
      bnGuardWarning: record.bnGuardWarning,
      precision: imported.precision,
      accuracy: imported.accuracy,
      warnings,
    },
  };
}
