// What a model file says about itself: our exporter's metadata (task, labels, feature names, parity,
// the BN guard's finding), or, for a model from elsewhere, what the import finds (pitfalls refused,
// BN folded, parity measured) with the folded graph as the bytes to serve.
import { importOnnx } from '../export/graph/import-model.ts';
import { decodeModel, readMetadata } from '../export/onnx/helpers.ts';
import { modelSignature } from '../export/onnx/signature.ts';
import { BnserveError, ConfigError } from '../lib/errors.ts';
import type { ModelVersionRecord } from '../registry/types.ts';

export type VersionFacts = Pick<
  ModelVersionRecord,
  'opset' | 'inputs' | 'outputs' | 'task' | 'classLabels' | 'featureNames' | 'parityMaxAbsDiff' | 'folded' | 'bnGuardWarning'
>;

function stringList(metadata: Record<string, string>, key: string): string[] {
  try {
    const value = JSON.parse(metadata[key] ?? '[]');
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? value : [];
  } catch {
    return [];
  }
}

/** The BN guard's verdict as our exporter recorded it (`bn_guard`: {stale, residual, …}). */
function guardWarning(metadata: Record<string, string>): string | null {
  try {
    const guard = JSON.parse(metadata.bn_guard ?? 'null') as { stale?: unknown; residual?: unknown } | null;
    if (guard?.stale !== true) return null;
    return `the BatchNormalization moving statistics may be stale (residual ${typeof guard.residual === 'number' ? guard.residual : 'unknown'}; the BN guard's finding in the model's metadata)`;
  } catch {
    return null;
  }
}

/** Exported by bnserve (train/export/register, or already imported): its metadata is trusted as written. */
export function isOurExport(metadata: Record<string, string>): boolean {
  return (metadata.producer ?? '').startsWith('bnserve') || Object.hasOwn(metadata, 'bnserve_import');
}

export async function describeModelFile(bytes: Uint8Array, file: string): Promise<{ bytes: Uint8Array; record: VersionFacts }> {
  let model: ReturnType<typeof decodeModel>;
  try {
    model = decodeModel(bytes);
  } catch (error) {
    throw new ConfigError(`${file} is not an ONNX model: ${(error as Error).message}`);
  }
  const metadata = readMetadata(model);
  if (isOurExport(metadata)) {
    // Decoded once: a model's graph is most of its bytes.
    const signature = modelSignature(model);
    const parity = Number(metadata.parity_max_abs_diff);
    return {
      bytes,
      record: {
        opset: Number((model.opsetImport ?? []).find((o) => !o.domain)?.version ?? 0),
        inputs: signature.inputs,
        outputs: signature.outputs,
        task: metadata.task === 'classification' ? 'classification' : 'regression',
        classLabels: stringList(metadata, 'class_labels'),
        featureNames: stringList(metadata, 'feature_names'),
        parityMaxAbsDiff: Number.isFinite(parity) ? parity : 0,
        folded: metadata.folded === 'true',
        bnGuardWarning: guardWarning(metadata),
      },
    };
  }
  try {
    const imported = await importOnnx({ onnx: bytes });
    return {
      bytes: imported.onnx,
      record: {
        opset: imported.opset,
        inputs: imported.inputs,
        outputs: imported.outputs,
        task: 'regression',
        classLabels: [],
        featureNames: [],
        parityMaxAbsDiff: imported.parity.maxAbsDiff,
        folded: imported.folds.length > 0,
        bnGuardWarning: imported.bnGuardWarning,
      },
    };
  } catch (error) {
    if (error instanceof BnserveError) throw new ConfigError(`${file} was refused: ${error.message}`);
    throw error;
  }
}
