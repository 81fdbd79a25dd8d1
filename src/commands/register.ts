import path from 'node:path';
import type { ModelVersionRecord, Registry } from '../registry/types.ts';
import { assertModelName } from '../registry/validation.ts';
import { readConfig, readMetrics } from '../checkpoint/index.ts';
import { ConfigError } from '../train/config.ts';
import type { Accuracy, Precision } from '../export/quantize/precision.ts';

export interface ExportAndRegisterOptions {
  checkpointDir: string;
  runId: string | null;
  name: string;
  /** Rows of raw features (the test split) for the parity check, besides random ones. */
  parityRows?: Float32Array | number[][];
  fold?: boolean;
  opset?: number;
  tolerance?: number;
  precision?: Precision;
  minAgreement?: number;
  accuracyRows?: Float32Array;
}

/**
 * The accuracy gate's rows for a reduced precision: the checkpoint's validation split (else its test
 * split), rebuilt from its config.json's data and split seed. Null, with the reason, when the data
 * cannot be read any more (the gate then uses random rows around the training statistics).
 */
export async function validationRows(dir: string): Promise<{ rows: Float32Array | null; warning: string | null }> {
  try {
    const { loadDataset, splitDataset } = await import('../train/data.ts');
    const config = await readConfig(dir);
    const splits = splitDataset(await loadDataset(config), config.split, config.task);
    const rows = splits.validation.x.length > 0 ? splits.validation.x : splits.test.x;
    return { rows: Float32Array.from(rows), warning: null };
  } catch (error) {
    return {
      rows: null,
      warning: `the training data could not be read again (${(error as Error).message}): the accuracy gate used random rows`,
    };
  }
}

/** Exporter + parity gate, then one model version row (with the BN guard's finding, if any). */
export async function exportAndRegister(
  options: ExportAndRegisterOptions,
  registry: Registry,
): Promise<{ version: ModelVersionRecord; warnings: string[]; precision: Precision; accuracy: Accuracy | null }> {
  const { exportCheckpoint } = await import('../export/index.ts');
  const exported = await exportCheckpoint({
    checkpointDir: options.checkpointDir,
    runId: options.runId ?? undefined,
    parityRows: options.parityRows,
    fold: options.fold,
    opset: options.opset,
    parityTolerance: options.tolerance,
    precision: options.precision,
    minAgreement: options.minAgreement,
    accuracyRows: options.accuracyRows,
  });
  const version = await registry.registerVersion({
    name: options.name,
    runId: options.runId,
    artifact: exported.onnx,
    opset: exported.opset,
    inputs: exported.inputs,
    outputs: exported.outputs,
    task: exported.task,
    classLabels: exported.classLabels,
    featureNames: exported.featureNames,
    parityMaxAbsDiff: exported.parityMaxAbsDiff,
    folded: exported.folded,
    bnGuardWarning: exported.bnGuardWarning,
  });
  return { version, warnings: exported.warnings, precision: exported.precision, accuracy: exported.accuracy };
}

export interface RegisterCommandOptions {
  checkpoint: string;
  name?: string;
  fold: boolean;
  opset: number;
  tolerance?: number;
  precision?: Precision;
  minAgreement?: number;
}

export interface RegisterCommandResult {
  name: string;
  version: number;
  runId: string | null;
  sha256: string;
  folded: boolean;
  opset: number;
  parityMaxAbsDiff: number;
  precision: Precision;
  /** The reduced-precision model against fp32: top-1 agreement and max |difference| (null for fp32). */
  accuracy: Accuracy | null;
  bnGuardWarning: string | null;
  warnings: string[];
}

/** Refuses an opset the exporter cannot write (ConfigError, exit 2). */
export async function checkOpset(opset: number): Promise<void> {
  const { MIN_OPSET, MAX_OPSET, DEFAULT_OPSET } = await import('../export/index.ts');
  if (!Number.isInteger(opset) || opset < MIN_OPSET || opset > MAX_OPSET) {
    throw new ConfigError(`--opset ${opset} is not supported: use ${MIN_OPSET}..${MAX_OPSET} (default ${DEFAULT_OPSET})`);
  }
}

/**
 * `bnserve register`: exports a checkpoint (e.g. one written with --no-export) and registers it as
 * a new version, linked to its training run when this registry holds that run.
 */
export async function runRegisterCommand(options: RegisterCommandOptions, registry: Registry): Promise<RegisterCommandResult> {
  await checkOpset(options.opset);
  const dir = path.resolve(options.checkpoint);
  // metrics.json is optional here as for export: without it the version is registered without a run.
  const metrics = await readMetrics(dir).catch(() => null);
  const name = options.name ?? (await readConfig(dir)).name;
  try {
    assertModelName(name);
  } catch (error) {
    throw new ConfigError(`--name: ${(error as Error).message}`);
  }
  const warnings: string[] = [];
  let runId = metrics?.runId ?? null;
  if (runId && !(await registry.getRun(runId))) {
    warnings.push(`run ${runId} (from metrics.json) is not in this registry: the version is registered without a run`);
    runId = null;
  }
  const gate = options.precision && options.precision !== 'fp32' ? await validationRows(dir) : { rows: null, warning: null };
  if (gate.warning) warnings.push(gate.warning);
  const {
    version,
    warnings: exportWarnings,
    precision,
    accuracy,
  } = await exportAndRegister(
    {
      checkpointDir: dir,
      runId,
      name,
      fold: options.fold,
      opset: options.opset,
      tolerance: options.tolerance,
      precision: options.precision,
      minAgreement: options.minAgreement,
      accuracyRows: gate.rows ?? undefined,
    },
    registry,
  );
  return {
    name: version.name,
    version: version.version,
    runId,
    sha256: version.artifactSha256,
    folded: version.folded,
    opset: version.opset,
    parityMaxAbsDiff: version.parityMaxAbsDiff,
    precision,
    accuracy,
    bnGuardWarning: version.bnGuardWarning ?? null,
    warnings: [...warnings, ...exportWarnings],
  };
}
