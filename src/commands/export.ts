import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../lib/durable-fs.ts';
import path from 'node:path';
import { ConfigError } from '../train/config.ts';

export interface ExportCommandOptions {
  checkpoint: string;
  out: string;
  fold: boolean;
  opset: number;
  tolerance?: number;
}

export async function runExportCommand(options: ExportCommandOptions) {
  const { exportCheckpoint, MIN_OPSET, MAX_OPSET, DEFAULT_OPSET } = await import('../export/index.ts');
  if (!Number.isInteger(options.opset) || options.opset < MIN_OPSET || options.opset > MAX_OPSET) {
    throw new ConfigError(`--opset ${options.opset} is not supported: use ${MIN_OPSET}..${MAX_OPSET} (default ${DEFAULT_OPSET})`);
  }
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
  };
}
