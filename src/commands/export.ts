import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createFileAtomic, writeFileAtomic } from '../lib/durable-fs.ts';
import { blockingAncestor, pathKind } from '../lib/path-kind.ts';
import { ConfigError } from '../train/config.ts';
import type { TritonExportResult, TritonKindOption, TritonTarget } from './triton-export.ts';

export interface ExportCommandOptions {
  checkpoint: string;
  out: string;
  /** Replace an existing --out file (otherwise it is refused). */
  force?: boolean;
  fold: boolean;
  opset: number;
  tolerance?: number;
  precision?: import('../export/quantize/precision.ts').Precision;
  minAgreement?: number;
  /** Also write the model into this Triton model repository. */
  tritonRepo?: string;
  /** Triton version folder (default 1). */
  tritonVersion?: number;
  tritonKind?: TritonKindOption;
  /** Model name in the Triton repository (default: the checkpoint config's name). */
  name?: string;
}

/** Checks the Triton arguments, the repository's layout and the serving settings before the export: bad ones fail fast (exit 2). */
async function tritonTargetOf(options: ExportCommandOptions, env: NodeJS.ProcessEnv): Promise<TritonTarget | null> {
  if (options.tritonRepo === undefined) {
    const stray = [
      options.tritonVersion !== undefined && '--triton-version',
      options.tritonKind !== undefined && '--triton-kind',
      options.name !== undefined && '--name',
    ];
    const given = stray.filter((s) => s !== false);
    if (given.length > 0) throw new ConfigError(`${given.join(', ')} only apply with --triton-repo`);
    return null;
  }
  const { checkpointModelName, tritonTarget } = await import('./triton-export.ts');
  return tritonTarget(
    {
      repo: options.tritonRepo,
      model: options.name ?? (await checkpointModelName(options.checkpoint)),
      version: options.tritonVersion ?? 1,
      kind: options.tritonKind,
    },
    env,
  );
}

/** How the messages of assertOutWritable name the option and the kind of file it takes. */
export interface OutOption {
  /** The option that named the path (default --out). */
  option?: string;
  /** What a file path there looks like, for the hint when a folder was given (default model.onnx). */
  example?: string;
  /** What the file is, in that hint (default "the ONNX file"). */
  what?: string;
}

export const outExistsMessage = (out: string, { option = '--out' }: OutOption = {}) =>
  `${option} ${out} already exists; add --force to replace it`;

/**
 * --out (or another option's path) must be a new file in a folder that is (or can be) there, or
 * with --force a regular file to replace: ConfigError (exit 2) otherwise, before anything is written.
 */
export async function assertOutWritable(out: string, force: boolean, names: OutOption = {}): Promise<void> {
  const { option = '--out', example = 'model.onnx', what = 'the ONNX file' } = names;
  const blocked = await blockingAncestor(out);
  if (blocked) throw new ConfigError(`${option} ${out}: ${blocked} is not a folder; choose a path inside a folder`);
  const kind = await pathKind(out, { followLinks: false });
  if (kind === 'missing') return;
  if (kind === 'folder') throw new ConfigError(`${option} ${out} is a folder; give ${what}'s path, e.g. ${path.join(out, example)}`);
  if (kind === 'other')
    throw new ConfigError(`${option} ${out} exists and is not a regular file (a link, a pipe, a device); choose another path`);
  if (!force) throw new ConfigError(outExistsMessage(out, names));
}

/** Everything is checked before anything is written: --out, the Triton repository's layout, then (after the export) its files. */
export async function runExportCommand(options: ExportCommandOptions, env: NodeJS.ProcessEnv = process.env) {
  const { exportCheckpoint, MIN_OPSET, MAX_OPSET, DEFAULT_OPSET } = await import('../export/index.ts');
  if (!Number.isInteger(options.opset) || options.opset < MIN_OPSET || options.opset > MAX_OPSET) {
    throw new ConfigError(`--opset ${options.opset} is not supported: use ${MIN_OPSET}..${MAX_OPSET} (default ${DEFAULT_OPSET})`);
  }
  const force = options.force === true;
  const out = path.resolve(options.out);
  await assertOutWritable(out, force);
  const tritonTarget = await tritonTargetOf(options, env);
  const gate =
    options.precision && options.precision !== 'fp32'
      ? await (await import('./register.ts')).validationRows(options.checkpoint)
      : { rows: null, warning: null };
  const result = await exportCheckpoint({
    checkpointDir: options.checkpoint,
    fold: options.fold,
    opset: options.opset,
    parityTolerance: options.tolerance,
    precision: options.precision,
    minAgreement: options.minAgreement,
    accuracyRows: gate.rows ?? undefined,
  });
  let writeTriton: (() => Promise<TritonExportResult>) | null = null;
  if (tritonTarget) {
    const { planTritonExport } = await import('./triton-export.ts');
    writeTriton = await planTritonExport(result.onnx, tritonTarget);
  }
  await assertOutWritable(out, force); // again: the export took a while
  await mkdir(path.dirname(out), { recursive: true });
  if (force) await writeFileAtomic(out, result.onnx);
  else if ((await createFileAtomic(out, result.onnx)) === 'exists') throw new ConfigError(outExistsMessage(out));
  return {
    out,
    bytes: result.onnx.byteLength,
    folded: result.folded,
    opset: result.opset,
    parityMaxAbsDiff: result.parityMaxAbsDiff,
    precision: result.precision,
    accuracy: result.accuracy,
    inputs: result.inputs,
    outputs: result.outputs,
    warnings: gate.warning ? [gate.warning, ...result.warnings] : result.warnings,
    triton: writeTriton ? await writeTriton() : null,
  };
}
