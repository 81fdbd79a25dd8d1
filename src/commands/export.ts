import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

export interface ExportCommandOptions {
  checkpoint: string;
  out: string;
  fold: boolean;
  opset: number;
  tolerance?: number;
}

/** Writes the file next to its final path, fsyncs it and renames it into place. */
export async function writeFileAtomic(file: string, data: Uint8Array): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}`);
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
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
