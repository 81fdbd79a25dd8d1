// `bnserve export … --triton-repo DIR` and `bnserve models triton-export NAME VERSION|ALIAS --out DIR`:
// an ONNX artifact plus a config.pbtxt whose scheduling is what `bnserve serve` would use for the
// model (server-wide batching settings from the environment, with the model's override on top).
import { readConfig } from '../checkpoint/index.ts';
import path from 'node:path';
import type { TritonInstanceKind } from '../export/triton-config.ts';
import type { TritonRepoWriteResult } from '../export/triton-repo.ts';
import type { CommandOutput } from './models.ts';
import { RegistryError, type Registry } from '../registry/types.ts';
import { MODEL_NAME } from '../lib/names.ts';
import type { BatchingOptions } from '../serve/config.ts';
import type { ProviderName } from '../serve/dataplane/providers.ts';
import { ConfigError } from '../train/config.ts';
import { ownValue } from '../lib/own-value.ts';

export const TRITON_KINDS = ['auto', 'cpu', 'gpu'] as const;
export type TritonKindOption = (typeof TRITON_KINDS)[number];

const KIND: Record<TritonKindOption, TritonInstanceKind> = { auto: 'KIND_AUTO', cpu: 'KIND_CPU', gpu: 'KIND_GPU' };
const GPU_PROVIDERS: ProviderName[] = ['cuda', 'tensorrt'];

/**
 * Where the server would run the model: CUDA with a CPU fallback (the default `cuda,cpu`) is
 * Triton's KIND_AUTO (GPU when there is one, else CPU); a GPU provider alone is KIND_GPU; anything
 * else runs on the CPU as far as Triton's onnxruntime backend is concerned.
 */
export function instanceKindFor(providers: ProviderName[]): TritonInstanceKind {
  const gpu = providers.some((p) => GPU_PROVIDERS.includes(p));
  if (!gpu) return 'KIND_CPU';
  return providers.includes('cpu') ? 'KIND_AUTO' : 'KIND_GPU';
}

export interface TritonTarget {
  repo: string;
  model: string;
  version: number;
  batching: BatchingOptions;
  kind: TritonInstanceKind;
}

export interface TritonTargetOptions {
  repo: string;
  model: string;
  version: number;
  /** Overrides the kind derived from BNSERVE_EXECUTION_PROVIDERS. */
  kind?: TritonKindOption;
  /** The option that named the repository, for messages (default --triton-repo). */
  repoOption?: string;
}

/**
 * Checks the arguments (the repository's layout included: no file where a folder goes) and reads the
 * serving settings, before any slow work and before anything is written (ConfigError: exit 2).
 */
export async function tritonTarget(options: TritonTargetOptions, env: NodeJS.ProcessEnv = process.env): Promise<TritonTarget> {
  if (!MODEL_NAME.test(options.model)) {
    throw new ConfigError(
      `invalid model name ${JSON.stringify(options.model)} for the Triton repository: use letters, digits, ".", "_" and "-" (at most 64)`,
    );
  }
  if (!Number.isSafeInteger(options.version) || options.version < 1) {
    throw new ConfigError(`--triton-version ${options.version}: expected a positive integer`);
  }
  if (options.kind !== undefined && !TRITON_KINDS.includes(options.kind)) {
    throw new ConfigError(`--triton-kind ${options.kind}: use one of ${TRITON_KINDS.join(', ')}`);
  }
  const { tritonRepoLayoutProblem } = await import('../export/triton-repo.ts');
  const problem = await tritonRepoLayoutProblem(options);
  if (problem) {
    const option = options.repoOption ?? '--triton-repo';
    throw new ConfigError(`${option} ${options.repo}: ${problem}; ${option} must be a new folder or a Triton model repository`);
  }
  // serve/config.ts loads onnxruntime (through dataplane/providers.ts); the commands may, src/export does not.
  const { serveConfigFromEnv } = await import('../serve/config.ts');
  const serve = serveConfigFromEnv(env);
  return {
    repo: path.resolve(options.repo),
    model: options.model,
    version: options.version,
    batching: { ...serve.batching, ...ownValue(serve.modelBatching, options.model) },
    kind: options.kind ? KIND[options.kind] : instanceKindFor(serve.providers),
  };
}

export interface TritonExportResult extends TritonRepoWriteResult {
  repo: string;
  model: string;
  version: number;
  maxBatchSize: number;
  dynamicBatching: boolean;
  kind: TritonInstanceKind;
}

/**
 * Checks the entry against the repository (a different file already there is refused) and returns
 * the write: a caller checks everything before it writes anything.
 */
export async function planTritonExport(onnx: Uint8Array, target: TritonTarget): Promise<() => Promise<TritonExportResult>> {
  const { formatConfigPbtxt, onnxSignature, tritonModelConfig } = await import('../export/triton-config.ts');
  const { commitTritonRepoEntry, planTritonRepoEntry } = await import('../export/triton-repo.ts');
  const config = tritonModelConfig(target.model, onnxSignature(onnx), target.batching, target.kind);
  const plan = await planTritonRepoEntry({
    repo: target.repo,
    model: target.model,
    version: target.version,
    onnx,
    config: formatConfigPbtxt(config),
  });
  return async () => ({
    repo: target.repo,
    model: target.model,
    version: target.version,
    maxBatchSize: config.maxBatchSize,
    dynamicBatching: config.dynamicBatching !== null,
    kind: target.kind,
    ...(await commitTritonRepoEntry(plan)),
  });
}

export async function writeTritonExport(onnx: Uint8Array, target: TritonTarget): Promise<TritonExportResult> {
  return (await planTritonExport(onnx, target))();
}

/** One line for the human output. */
export function describeTritonExport(r: TritonExportResult): string {
  const files = [r.wrote.config ? 'config.pbtxt' : null, r.wrote.model ? `${r.version}/model.onnx` : null].filter((f) => f !== null);
  const what = files.length > 0 ? `wrote ${files.join(' and ')}` : 'unchanged (identical files already there)';
  return `triton: ${r.modelDir} version ${r.version}: ${what} (max_batch_size ${r.maxBatchSize}, ${r.kind})`;
}

/** The model name in a checkpoint's config.json, through the checkpoint's one reader. */
export async function checkpointModelName(checkpointDir: string): Promise<string> {
  return (await readConfig(checkpointDir)).name;
}

export interface ModelsTritonExportOptions {
  out: string;
  kind?: TritonKindOption;
}

/** `bnserve models triton-export NAME VERSION|ALIAS --out DIR`: the registered artifact (sha256 checked) as a Triton version. */
export async function modelsTritonExport(
  registry: Registry,
  name: string,
  ref: string,
  options: ModelsTritonExportOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<CommandOutput> {
  const record = await registry.getVersion(name, ref);
  if (!record) throw new RegistryError('not_found', `model ${name} has no version or alias ${ref}`);
  const target = await tritonTarget(
    { repo: options.out, model: name, version: record.version, kind: options.kind, repoOption: '--out' },
    env,
  );
  const onnx = await registry.readArtifact(record);
  const result = await writeTritonExport(onnx, target);
  return { text: describeTritonExport(result), json: { ...result, sha256: record.artifactSha256 } };
}
