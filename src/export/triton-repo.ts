// A Triton model repository entry: <repo>/<model>/config.pbtxt and <repo>/<model>/<version>/model.onnx.
// Adds to what is there and never replaces or removes a file: an existing file with other content
// is refused, one with the same content is left as it is (so an identical re-export is a no-op).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createFileAtomic, readIfExists } from '../lib/durable-fs.ts';
import { ExportError } from './errors.ts';

/** Same rule as registry model names: safe as a folder name and in Triton's URLs. */
const MODEL_DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export interface TritonRepoEntry {
  /** The model repository (the folder Triton's --model-repository points at). */
  repo: string;
  model: string;
  /** Triton's version folder: a positive integer. */
  version: number;
  onnx: Uint8Array;
  /** config.pbtxt text, whose `name` must be `model`. */
  config: string;
}

export interface TritonRepoWriteResult {
  modelDir: string;
  configPath: string;
  modelPath: string;
  /** false where an identical file was already there. */
  wrote: { config: boolean; model: boolean };
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

function refuse(file: string, what: string): never {
  throw new ExportError(
    `${file} already exists with a different ${what}; nothing was written (remove it yourself, or choose another version or repository)`,
  );
}

/** Whether `file` may get `data`: true to create it, false when an identical file is there; throws when a different one is. */
async function needsWrite(file: string, data: Uint8Array, what: string): Promise<boolean> {
  const existing = await readIfExists(file);
  if (existing === null) return true;
  if (sameBytes(existing, data)) return false;
  return refuse(file, what);
}

/** Creates `file` unless it exists; a file that appeared meanwhile must hold the same bytes. */
async function create(file: string, data: Uint8Array, what: string): Promise<void> {
  if ((await createFileAtomic(file, data)) === 'exists' && !sameBytes((await readIfExists(file)) ?? new Uint8Array(), data)) {
    refuse(file, what);
  }
}

export async function writeTritonRepoEntry(entry: TritonRepoEntry): Promise<TritonRepoWriteResult> {
  if (!MODEL_DIR_NAME.test(entry.model)) {
    throw new ExportError(`invalid Triton model name ${JSON.stringify(entry.model)}: use letters, digits, ".", "_" and "-" (at most 64)`);
  }
  if (!Number.isSafeInteger(entry.version) || entry.version < 1) {
    throw new ExportError(`invalid Triton model version ${entry.version}: expected a positive integer`);
  }
  const modelDir = path.resolve(entry.repo, entry.model);
  const configPath = path.join(modelDir, 'config.pbtxt');
  const modelPath = path.join(modelDir, String(entry.version), 'model.onnx');
  const config = new TextEncoder().encode(entry.config);

  // Both checks before either write: a refusal leaves the repository as it was.
  const wrote = {
    config: await needsWrite(configPath, config, 'configuration (config.pbtxt)'),
    model: await needsWrite(modelPath, entry.onnx, `model for version ${entry.version}`),
  };
  // The model first: Triton polling the repository sees a config only once its version is complete.
  if (wrote.model) {
    await mkdir(path.dirname(modelPath), { recursive: true });
    await create(modelPath, entry.onnx, `model for version ${entry.version}`);
  }
  if (wrote.config) {
    await mkdir(modelDir, { recursive: true });
    await create(configPath, config, 'configuration (config.pbtxt)');
  }
  return { modelDir, configPath, modelPath, wrote };
}
