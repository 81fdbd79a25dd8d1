import { mkdir } from 'node:fs/promises';
import { writeFileAtomic } from '../lib/durable-fs.ts';
import path from 'node:path';

export interface ExportCommandOptions {
  checkpoint: string;
  out: string;
  fold: boolean;
  opset: number;
  tolerance?: number;
}

export async function runExportCommand(options: ExportCommandOptions) {
  const { exportCheckpoint } = await import('../export/index.ts');
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
