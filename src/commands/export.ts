import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../lib/durable-fs.ts';
import path from 'node:path';
import { ConfigError } from '../train/config.ts';
import type { TritonExportResult, TritonKindOption } from './triton-export.ts';

export interface ExportCommandOptions {
  checkpoint: string;
  out: string;
  fold: boolean;
  opset: number;
  tolerance?: number;
  /** Also write the model into this Triton model repository. */
  tritonRepo?: string;
  /** Triton version folder (default 1). */
  tritonVersion?: number;
  tritonKind?: TritonKindOption;
  /** Model name in the Triton repository (default: the checkpoint config's name). */
  name?: string;
}

/** Checks the Triton arguments and serving settings before the export: bad ones fail fast (exit 2). */
async function prepareTriton(
  options: ExportCommandOptions,
  env: NodeJS.ProcessEnv,
): Promise<((onnx: Uint8Array) => Promise<TritonExportResult>) | null> {
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
  const { checkpointModelName, tritonTarget, writeTritonExport } = await import('./triton-export.ts');
  const target = await tritonTarget(
    {
      repo: options.tritonRepo,
      model: options.name ?? (await checkpointModelName(options.checkpoint)),
      version: options.tritonVersion ?? 1,
      kind: options.tritonKind,
    },
    env,
  );
  return (onnx) => writeTritonExport(onnx, target);
}

export async function runExportCommand(options: ExportCommandOptions, env: NodeJS.ProcessEnv = process.env) {
  const { exportCheckpoint, MIN_OPSET, MAX_OPSET, DEFAULT_OPSET } = await import('../export/index.ts');
  if (!Number.isInteger(options.opset) || options.opset < MIN_OPSET || options.opset > MAX_OPSET) {
    throw new ConfigError(`--opset ${options.opset} is not supported: use ${MIN_OPSET}..${MAX_OPSET} (default ${DEFAULT_OPSET})`);
  }
  const writeTriton = await prepareTriton(options, env);
  const result = await exportCheckpoint({
    checkpointDir: options.checkpoint,
    fold: options.fold,
    opset: options.opset,
    parityTolerance: options.tolerance,
  });
  const out = path.resolve(options.out);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFileAtomic(out, result.onnx);
  return {
    out,
    bytes: result.onnx.byteLength,
    folded: result.folded,
    opset: result.opset,
    parityMaxAbsDiff: result.parityMaxAbsDiff,
    inputs: result.inputs,
    outputs: result.outputs,
    warnings: result.warnings,
    triton: writeTriton ? await writeTriton(result.onnx) : null,
  };
}
