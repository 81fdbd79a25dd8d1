// `bnserve import MODEL.onnx --name NAME`: an ONNX model from PyTorch or Keras registered as a new
// version, with the same guarantees as a trained one (BN folded, parity proven, pitfalls refused).
import path from 'node:path';
import { ConfigError } from '../lib/errors.ts';
import { readRegularFile } from '../lib/regular-file.ts';
import type { RegisterImportResult } from '../export/graph/register-import.ts';
import type { Registry } from '../registry/types.ts';
import { assertAlias, assertModelName } from '../registry/validation.ts';
import { readSettings } from '../settings.ts';

const MiB = 1024 * 1024;

export interface ImportCommandOptions {
  /** The .onnx file. */
  model: string;
  name: string;
  /** A .npy, .csv or .json file of real inputs. */
  sample?: string;
  tolerance?: number;
  task?: 'classification' | 'regression';
  labels?: string[];
  /** Move this alias to the new version (refused for a flagged version unless `force`). */
  alias?: string;
  force?: boolean;
  precision?: import('../export/quantize/precision.ts').Precision;
  minAgreement?: number;
}

export type ImportCommandResult = RegisterImportResult & { alias: string | null };

const readLimit = () => ({ maxBytes: readSettings(['BNSERVE_MAX_DATA_MB']).BNSERVE_MAX_DATA_MB * MiB, setting: 'BNSERVE_MAX_DATA_MB' });

export async function runImportCommand(options: ImportCommandOptions, registry: Registry): Promise<ImportCommandResult> {
  try {
    assertModelName(options.name);
    if (options.alias !== undefined) assertAlias(options.alias);
  } catch (error) {
    throw new ConfigError(`${options.alias !== undefined ? '--name/--alias' : '--name'}: ${(error as Error).message}`);
  }
  if (options.labels && options.task !== 'classification') throw new ConfigError('--labels only apply with --task classification');
  const { registerImport } = await import('../export/graph/register-import.ts');
  const { inputSpecs } = await import('../export/graph/run-graph.ts');
  const { parseSample } = await import('../export/graph/sample.ts');
  const { decodeModel } = await import('../export/onnx/helpers.ts');

  const onnx = new Uint8Array(await readRegularFile(path.resolve(options.model), readLimit()));
  let sample = null;
  if (options.sample !== undefined) {
    const sampleBytes = await readRegularFile(path.resolve(options.sample), readLimit());
    let specs: ReturnType<typeof inputSpecs> = [];
    try {
      specs = inputSpecs(decodeModel(onnx));
    } catch {
      // Not ONNX: the import says so.
    }
    sample = specs.length > 0 ? parseSample(options.sample, sampleBytes, specs) : null;
  }
  const { result, record } = await registerImport({ ...options, onnx, sample }, registry);
  if (options.alias !== undefined) await registry.promote(options.name, record.version, options.alias, { force: options.force === true });
  return { ...result, alias: options.alias ?? null };
}

/** The human summary the CLI prints. */
export function describeImport(r: ImportCommandResult): string {
  const into = (f: ImportCommandResult['folds'][number]) => `${f.node} → ${f.into ? `${f.op} ${f.into}` : 'Mul + Add'}`;
  return [
    r.alreadyRegistered
      ? `${r.name} version ${r.version} already holds this model (sha256 ${r.sha256.slice(0, 12)}…); nothing new was registered`
      : `imported ${r.name} version ${r.version} from ${r.producer} (opset ${r.opset}, sha256 ${r.sha256.slice(0, 12)}…)`,
    r.batchNorms === 0 ? 'no BatchNormalization nodes: nothing to fold' : `BatchNormalization folded: ${r.folds.map(into).join('; ')}`,
    `parity: max |folded − original| = ${r.parity.maxAbsDiff.toExponential(2)} (${r.parity.maxScaledDiff.toExponential(2)} of the output scale, ` +
      `tolerance ${r.parity.tolerance}) on ${r.parity.rows} ${r.parity.sample ? 'sample' : 'random'} rows`,
    ...(r.accuracy
      ? [
          `precision ${r.precision}: top-1 agreement with fp32 ${(r.accuracy.agreement * 100).toFixed(2)}% on ${r.accuracy.rows} ` +
            `${r.parity.sample ? 'sample' : 'random'} rows, max |${r.precision} − fp32| = ${r.accuracy.maxAbsDiff.toExponential(2)}`,
        ]
      : []),
    ...(r.drift ?? []).map((d) => `BN drift ${d.name}: mean gap ${d.meanGap.toFixed(2)} std, variance ratio ${d.varianceRatio.toFixed(2)}`),
    ...(r.bnGuardWarning
      ? [`FLAGGED by the BN guard: ${r.bnGuardWarning}`, 'a flagged version is never the default; promote it only with --force']
      : []),
    ...(r.alias ? [`alias ${r.alias} → version ${r.version}`] : []),
    ...r.warnings.map((w) => `warning: ${w}`),
  ].join('\n');
}
