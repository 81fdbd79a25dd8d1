// KServe's way to get a model in: a folder (KServe's storage initializer copies `storageUri` to
// /mnt/models) served under one name, with no registry database. The folder holds `model.onnx` (or
// one *.onnx file), or a Triton-style repository `<name>/<version>/model.onnx` (what
// `export --triton-repo` writes; `<version>/model.onnx` directly in the folder works too).
// It answers the server as a read-only Registry: every version's facts come from the ONNX file,
// from the metadata our exporter writes, and a model from elsewhere goes through the import's checks
// and fold when the folder is opened (refused: the server does not start).
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeModel, encodeModel } from '../export/onnx/helpers.ts';
import { onnx } from '../export/onnx/proto.ts';
import { readWarmup, WARMUP_KEY, type WarmupSample, warmupProp } from '../export/onnx/warmup.ts';
import { ConfigError } from '../lib/errors.ts';
import { defaultVersion } from '../lib/names.ts';
import { readRegularFile } from '../lib/regular-file.ts';
import {
  type ModelSummary,
  type ModelVersionRecord,
  type Registry,
  RegistryError,
  type RunSummary,
  type TrainingRunRecord,
} from '../registry/types.ts';
import { readSettings } from '../settings.ts';

export interface ModelDirectoryOptions {
  /** The name the model is served under (KServe: the InferenceService's name). */
  modelName: string;
  dir: string;
}

interface VersionFile {
  version: number;
  file: string;
}

const isVersionFolder = (name: string) => /^[1-9]\d{0,8}$/.test(name);

async function isFile(file: string): Promise<boolean> {
  return (await stat(file).catch(() => null))?.isFile() ?? false;
}

async function versionFolders(dir: string): Promise<VersionFile[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  const found: VersionFile[] = [];
  for (const e of entries) {
    const file = path.join(dir, e.name, 'model.onnx');
    if (e.isDirectory() && isVersionFolder(e.name) && (await isFile(file))) found.push({ version: Number(e.name), file });
  }
  return found.sort((a, b) => a.version - b.version);
}

/** The model's files, by version: DIR/model.onnx, the only DIR/*.onnx, DIR/NAME/<v>/model.onnx or DIR/<v>/model.onnx. */
export async function findModelFiles(dir: string, modelName: string): Promise<VersionFile[]> {
  const info = await stat(dir).catch(() => null);
  if (!info?.isDirectory()) throw new ConfigError(`--model-dir ${dir} is not a folder`);
  if (await isFile(path.join(dir, 'model.onnx'))) return [{ version: 1, file: path.join(dir, 'model.onnx') }];
  const repository = await versionFolders(path.join(dir, modelName));
  if (repository.length > 0) return repository;
  const direct = await versionFolders(dir);
  if (direct.length > 0) return direct;
  const onnxFiles = (await readdir(dir)).filter((f) => f.endsWith('.onnx'));
  if (onnxFiles.length === 1) return [{ version: 1, file: path.join(dir, onnxFiles[0]) }];
  throw new ConfigError(
    `--model-dir ${dir} holds no model for "${modelName}": expected model.onnx (or a single .onnx file), ` +
      `${modelName}/<version>/model.onnx, or <version>/model.onnx` +
      (onnxFiles.length > 1 ? ` (found ${onnxFiles.length} .onnx files: name the one to serve model.onnx)` : ''),
  );
}

/** Reads every version and builds its record; a model from elsewhere is imported (checked, folded) here. */
export async function openModelDirectory(options: ModelDirectoryOptions): Promise<Registry> {
  const { describeModelFile } = await import('./version-facts.ts');
  const limit = { maxBytes: readSettings(['BNSERVE_MAX_DATA_MB']).BNSERVE_MAX_DATA_MB * 1024 * 1024, setting: 'BNSERVE_MAX_DATA_MB' };
  const versions: Array<{ record: ModelVersionRecord; bytes: Uint8Array }> = [];
  for (const { version, file } of await findModelFiles(options.dir, options.modelName)) {
    const original = new Uint8Array(await readRegularFile(file, limit));
    const facts = await describeModelFile(original, file);
    const warmup = await readWarmupFile(path.join(path.dirname(file), 'warmup.json'));
    if (warmup) facts.bytes = withMetadata(facts.bytes, warmupProp(warmup));
    const createdAt = (await stat(file)).mtime;
    versions.push({
      bytes: facts.bytes,
      record: {
        id: version,
        name: options.modelName,
        version,
        runId: null,
        artifactSha256: createHash('sha256').update(facts.bytes).digest('hex'),
        artifactSize: facts.bytes.length,
        artifactPath: file,
        createdAt,
        aliases: [],
        ...facts.record,
      },
    });
  }
  return new DirectoryRegistry(options.modelName, versions);
}

/** `warmup.json` beside a model file: an OIP request body the server runs at load (Triton's model_warmup). */
async function readWarmupFile(file: string): Promise<WarmupSample | null> {
  if (!(await isFile(file))) return null;
  try {
    return readWarmup({ [WARMUP_KEY]: await readFile(file, 'utf8') });
  } catch (error) {
    throw new ConfigError(`${file}: ${(error as Error).message} (expected {"inputs": [{"name", "shape", "datatype", "data"}]})`);
  }
}

/** The model with one metadata entry set (replacing one of the same key). */
function withMetadata(bytes: Uint8Array, prop: { key: string; value: string }): Uint8Array {
  const model = decodeModel(bytes);
  model.metadataProps = [...(model.metadataProps ?? []).filter((p) => p.key !== prop.key), onnx.StringStringEntryProto.fromObject(prop)];
  return encodeModel(model);
}

const readOnly = () =>
  new RegistryError('refused', 'the model directory is read-only (KServe mode, --model-dir): change the files under it and restart');

/** The folder's versions as a read-only Registry: no runs, no aliases, nothing to write. */
export class DirectoryRegistry implements Registry {
  constructor(
    private readonly name: string,
    private readonly versions: ReadonlyArray<{ record: ModelVersionRecord; bytes: Uint8Array }>,
  ) {}

  private records(): ModelVersionRecord[] {
    return this.versions.map((v) => ({ ...v.record, aliases: [] }));
  }

  async startRun(): Promise<TrainingRunRecord> {
    throw readOnly();
  }
  async recordEpoch(): Promise<void> {
    throw readOnly();
  }
  async heartbeat(): Promise<void> {
    throw readOnly();
  }
  async finishRun(): Promise<void> {
    throw readOnly();
  }
  async getRun() {
    return null;
  }
  async listRuns(): Promise<RunSummary[]> {
    return [];
  }
  async failStaleRuns(): Promise<number> {
    return 0;
  }
  async registerVersion(): Promise<ModelVersionRecord> {
    throw readOnly();
  }
  async promote(): Promise<ModelVersionRecord> {
    throw readOnly();
  }

  async listModels(): Promise<ModelSummary[]> {
    const records = this.records();
    const unflagged = records.filter((r) => r.bnGuardWarning === null).map((r) => r.version);
    return [
      {
        name: this.name,
        latestVersion: Math.max(...records.map((r) => r.version)),
        latestUnflaggedVersion: unflagged.length > 0 ? Math.max(...unflagged) : 0,
        versionCount: records.length,
        aliases: {},
      },
    ];
  }

  async listVersions(name: string): Promise<ModelVersionRecord[]> {
    return name === this.name ? this.records() : [];
  }

  async getVersion(name: string, ref?: number | string): Promise<ModelVersionRecord | null> {
    if (name !== this.name) return null;
    const records = this.records();
    if (typeof ref === 'number') return records.find((r) => r.version === ref) ?? null;
    if (typeof ref === 'string') return null;
    const [summary] = await this.listModels();
    const version = defaultVersion({}, summary.latestUnflaggedVersion);
    return records.find((r) => r.version === version) ?? null;
  }

  async readArtifact(version: ModelVersionRecord): Promise<Uint8Array> {
    const found = this.versions.find((v) => v.record.version === version.version && version.name === this.name);
    if (!found) throw new RegistryError('not_found', `model "${version.name}" version ${version.version} is not in the model directory`);
    return found.bytes;
  }

  async checkDatabase(): Promise<void> {}

  async close(): Promise<void> {}
}
