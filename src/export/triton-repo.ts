// A Triton model repository entry: <repo>/<model>/config.pbtxt and <repo>/<model>/<version>/model.onnx.
// Adds to what is there and never replaces or removes a file: an existing file with other content
// is refused, one with the same content is left as it is (so an identical re-export is a no-op).
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { createFileAtomic, readIfExists } from '../lib/durable-fs.ts';
import { blockingAncestor, pathKind } from '../lib/path-kind.ts';
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

/** The paths of an entry; its name and version are checked (ExportError). */
function entryPaths(entry: Pick<TritonRepoEntry, 'repo' | 'model' | 'version'>) {
  if (!MODEL_DIR_NAME.test(entry.model)) {
    throw new ExportError(`invalid Triton model name ${JSON.stringify(entry.model)}: use letters, digits, ".", "_" and "-" (at most 64)`);
  }
  if (!Number.isSafeInteger(entry.version) || entry.version < 1) {
    throw new ExportError(`invalid Triton model version ${entry.version}: expected a positive integer`);
  }
  const repo = path.resolve(entry.repo);
  const modelDir = path.join(repo, entry.model);
  const versionDir = path.join(modelDir, String(entry.version));
  return { repo, modelDir, versionDir, configPath: path.join(modelDir, 'config.pbtxt'), modelPath: path.join(versionDir, 'model.onnx') };
}

/**
 * What stands in the way of writing the entry, as a phrase ("/r/m is a file, not a folder"), or null:
 * a file where the repository, model or version folder goes, or a non-file where a file goes.
 */
export async function tritonRepoLayoutProblem(entry: Pick<TritonRepoEntry, 'repo' | 'model' | 'version'>): Promise<string | null> {
  const paths = entryPaths(entry);
  const blocked = await blockingAncestor(paths.repo);
  if (blocked) return `${blocked} is not a folder`;
  const wanted = [
    [paths.repo, 'folder'],
    [paths.modelDir, 'folder'],
    [paths.versionDir, 'folder'],
    [paths.configPath, 'file'],
    [paths.modelPath, 'file'],
  ] as const;
  for (const [target, kind] of wanted) {
    const found = await pathKind(target);
    if (found === 'missing' || found === kind) continue;
    return kind === 'folder' ? `${target} is a file, not a folder` : `${target} is not a regular file`;
  }
  return null;
}

export interface TritonRepoPlan extends TritonRepoWriteResult {
  entry: TritonRepoEntry;
}

/** Every check, nothing written: a refusal (bad name or version, a path in the way, a different file there) leaves the repository as it was. */
export async function planTritonRepoEntry(entry: TritonRepoEntry): Promise<TritonRepoPlan> {
  const { modelDir, configPath, modelPath } = entryPaths(entry);
  const problem = await tritonRepoLayoutProblem(entry);
  if (problem) throw new ExportError(`cannot write into the Triton model repository ${path.resolve(entry.repo)}: ${problem}`);
  const config = new TextEncoder().encode(entry.config);
  const wrote = {
    config: await needsWrite(configPath, config, 'configuration (config.pbtxt)'),
    model: await needsWrite(modelPath, entry.onnx, `model for version ${entry.version}`),
  };
  return { entry, modelDir, configPath, modelPath, wrote };
}

/** Writes what the plan found missing. */
export async function commitTritonRepoEntry(plan: TritonRepoPlan): Promise<TritonRepoWriteResult> {
  const { entry, modelDir, configPath, modelPath, wrote } = plan;
  // The model first: Triton polling the repository sees a config only once its version is complete.
  if (wrote.model) {
    await mkdir(path.dirname(modelPath), { recursive: true });
    await create(modelPath, entry.onnx, `model for version ${entry.version}`);
  }
  if (wrote.config) {
    await mkdir(modelDir, { recursive: true });
    await create(configPath, new TextEncoder().encode(entry.config), 'configuration (config.pbtxt)');
  }
  return { modelDir, configPath, modelPath, wrote };
}

export async function writeTritonRepoEntry(entry: TritonRepoEntry): Promise<TritonRepoWriteResult> {
  return commitTritonRepoEntry(await planTritonRepoEntry(entry));
}
