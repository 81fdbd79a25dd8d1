// In-memory Registry for serving tests: same contract as src/registry/types.ts, no database.
import { createHash, randomUUID } from 'node:crypto';
import {
  ArtifactMissingError,
  RegistryError,
  type EpochMetricInput,
  type ModelSummary,
  type ModelVersionRecord,
  type RegisterVersionInput,
  type Registry,
  type RunFilter,
  type RunSummary,
  type TrainingRunRecord,
} from '../../src/registry/types.ts';

const WRITES = new Set([
  'checkDatabase',
  'startRun',
  'recordEpoch',
  'heartbeat',
  'finishRun',
  'failStaleRuns',
  'registerVersion',
  'promote',
]);

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

export class FakeRegistry implements Registry {
  private readonly versions: ModelVersionRecord[] = [];
  private readonly artifacts = new Map<string, Uint8Array>();
  private readonly aliases = new Map<string, Map<string, number>>();
  private readonly runs = new Map<string, TrainingRunRecord & { epochs: EpochMetricInput[] }>();
  private nextId = 1;
  /** Calls by method name, to check what the server asks for. */
  readonly calls = new Map<string, number>();
  /** The staleMs argument of every failStaleRuns call, in order. */
  readonly staleRunChecks: number[] = [];
  /** When set, every method rejects with this error (registry down). */
  failWith: Error | null = null;
  private readonly failNext = new Map<string, Error>();
  /**
   * When set, checkDatabase() and every write reject with RegistryError('unavailable'), while reads
   * still answer: what a SQLite file deleted under the process looks like (its inode lives on).
   */
  databaseGone: string | null = null;
  /** Artifacts taken out of the store (removeArtifact), by sha256. */
  private readonly removed = new Map<string, Uint8Array>();

  /** Makes the next call of one method reject with err (a transient fault). */
  failOnce(method: keyof Registry, err: Error): void {
    this.failNext.set(method, err);
  }

  private touch(method: string): void {
    this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
    if (this.failWith) throw this.failWith;
    if (this.databaseGone !== null && WRITES.has(method)) throw new RegistryError('unavailable', this.databaseGone);
    const once = this.failNext.get(method);
    if (once) {
      this.failNext.delete(method);
      throw once;
    }
  }

  async startRun(input: { name: string; config: unknown; backend: string; seed: number | null }): Promise<TrainingRunRecord> {
    this.touch('startRun');
    const now = new Date();
    const run = {
      id: randomUUID(),
      name: input.name,
      status: 'running' as const,
      backend: input.backend,
      config: input.config,
      seed: input.seed,
      bnSteps: null,
      error: null,
      startedAt: now,
      finishedAt: null,
      heartbeatAt: now,
      epochs: [],
    };
    this.runs.set(run.id, run);
    return run;
  }

  async recordEpoch(runId: string, metric: EpochMetricInput): Promise<void> {
    this.touch('recordEpoch');
    this.run(runId).epochs.push(metric);
  }

  async heartbeat(runId: string): Promise<void> {
    this.touch('heartbeat');
    this.run(runId).heartbeatAt = new Date();
  }

  async finishRun(runId: string, result: { status: 'succeeded' | 'failed'; bnSteps?: number; error?: string }): Promise<void> {
    this.touch('finishRun');
    Object.assign(this.run(runId), {
      status: result.status,
      bnSteps: result.bnSteps ?? null,
      error: result.error ?? null,
      finishedAt: new Date(),
    });
  }

  async getRun(runId: string) {
    this.touch('getRun');
    return this.runs.get(runId) ?? null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunSummary[]> {
    this.touch('listRuns');
    return [...this.runs.values()]
      .filter(
        (run) => (filter.name === undefined || run.name === filter.name) && (filter.status === undefined || run.status === filter.status),
      )
      .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime())
      .slice(0, filter.limit ?? 10_000)
      .map(({ epochs, ...run }) => ({
        ...run,
        epochCount: epochs.length,
        lastEpoch: epochs.at(-1) ?? null,
        versions: this.versions
          .filter((v) => v.runId === run.id)
          .map((v) => ({ name: v.name, version: v.version, bnGuardWarning: v.bnGuardWarning })),
      }));
  }

  async failStaleRuns(staleMs: number): Promise<number> {
    this.staleRunChecks.push(staleMs);
    this.touch('failStaleRuns');
    let n = 0;
    for (const run of this.runs.values()) {
      if (run.status === 'running' && Date.now() - run.heartbeatAt.getTime() > staleMs) {
        Object.assign(run, { status: 'failed', error: `no heartbeat for more than ${staleMs} ms`, finishedAt: new Date() });
        n++;
      }
    }
    return n;
  }

  /** Moves a run's last heartbeat ms into the past, as a trainer that died would leave it. */
  backdateHeartbeat(runId: string, ms: number): void {
    const run = this.run(runId);
    run.heartbeatAt = new Date(run.heartbeatAt.getTime() - ms);
  }

  private run(id: string) {
    const run = this.runs.get(id);
    if (!run) throw new RegistryError('not_found', `run ${id} not found`);
    return run;
  }

  async registerVersion(input: RegisterVersionInput): Promise<ModelVersionRecord> {
    this.touch('registerVersion');
    const digest = sha256(input.artifact);
    this.artifacts.set(digest, new Uint8Array(input.artifact));
    const version = Math.max(0, ...this.versions.filter((v) => v.name === input.name).map((v) => v.version)) + 1;
    const { artifact: _bytes, ...rest } = input;
    const record: ModelVersionRecord = {
      ...rest,
      bnGuardWarning: input.bnGuardWarning ?? null,
      id: this.nextId++,
      version,
      artifactSha256: digest,
      artifactSize: input.artifact.byteLength,
      artifactPath: `/memory/${digest}.onnx`,
      createdAt: new Date(),
      aliases: [],
    };
    this.versions.push(record);
    return this.withAliases(record);
  }

  private withAliases(record: ModelVersionRecord): ModelVersionRecord {
    const aliases = [...(this.aliases.get(record.name) ?? new Map<string, number>())]
      .filter(([, v]) => v === record.version)
      .map(([a]) => a);
    return { ...record, aliases };
  }

  async listModels(): Promise<ModelSummary[]> {
    this.touch('listModels');
    const names = [...new Set(this.versions.map((v) => v.name))].sort();
    return names.map((name) => {
      const own = this.versions.filter((v) => v.name === name);
      return {
        name,
        latestVersion: Math.max(...own.map((v) => v.version)),
        latestUnflaggedVersion: Math.max(0, ...own.filter((v) => v.bnGuardWarning === null).map((v) => v.version)),
        versionCount: own.length,
        aliases: Object.fromEntries(this.aliases.get(name) ?? []),
      };
    });
  }

  async listVersions(name: string): Promise<ModelVersionRecord[]> {
    this.touch('listVersions');
    return this.versions.filter((v) => v.name === name).map((v) => this.withAliases(v));
  }

  async getVersion(name: string, ref?: number | string): Promise<ModelVersionRecord | null> {
    this.touch('getVersion');
    const own = this.versions.filter((v) => v.name === name);
    if (own.length === 0) return null;
    const aliases = this.aliases.get(name) ?? new Map<string, number>();
    const version =
      typeof ref === 'number'
        ? ref
        : typeof ref === 'string'
          ? aliases.get(ref)
          : (aliases.get('production') ?? Math.max(...own.filter((v) => v.bnGuardWarning === null).map((v) => v.version)));
    const found = own.find((v) => v.version === version);
    return found ? this.withAliases(found) : null;
  }

  async promote(name: string, version: number, alias: string, options: { force?: boolean } = {}): Promise<ModelVersionRecord> {
    this.touch('promote');
    const found = this.versions.find((v) => v.name === name && v.version === version);
    if (!found) throw new RegistryError('not_found', `model ${name} has no version ${version}`);
    if (found.bnGuardWarning !== null && !options.force) {
      throw new RegistryError('refused', `${name} version ${version} was flagged by the BN guard: ${found.bnGuardWarning}`);
    }
    if (!this.aliases.has(name)) this.aliases.set(name, new Map());
    this.aliases.get(name)!.set(alias, version);
    return this.withAliases(found);
  }

  async readArtifact(version: ModelVersionRecord): Promise<Uint8Array> {
    this.touch('readArtifact');
    const bytes = this.artifacts.get(version.artifactSha256);
    // The same error as src/registry/artifact-store.ts gives for a missing file.
    if (!bytes) throw new ArtifactMissingError(version.artifactPath);
    const actual = sha256(bytes);
    if (actual !== version.artifactSha256) {
      throw new RegistryError(
        'integrity',
        `artifact of ${version.name} v${version.version} has sha256 ${actual}, expected ${version.artifactSha256}`,
      );
    }
    return bytes;
  }

  /** Flips a byte of a stored artifact, as disk corruption or tampering would. */
  corruptArtifact(name: string, version: number): void {
    const record = this.versions.find((v) => v.name === name && v.version === version);
    if (!record) throw new Error(`no ${name} v${version}`);
    const bytes = this.artifacts.get(record.artifactSha256)!;
    bytes[bytes.length - 1] ^= 0xff;
  }

  /** Takes a version's artifact out of the store (a file deleted or not yet synced); restoreArtifact puts it back. */
  removeArtifact(name: string, version: number): void {
    const sha = this.record(name, version).artifactSha256;
    this.removed.set(sha, this.artifacts.get(sha)!);
    this.artifacts.delete(sha);
  }

  restoreArtifact(name: string, version: number): void {
    const sha = this.record(name, version).artifactSha256;
    const bytes = this.removed.get(sha);
    if (bytes) this.artifacts.set(sha, bytes);
    this.removed.delete(sha);
  }

  private record(name: string, version: number): ModelVersionRecord {
    const record = this.versions.find((v) => v.name === name && v.version === version);
    if (!record) throw new Error(`no ${name} v${version}`);
    return record;
  }

  async checkDatabase(): Promise<void> {
    this.touch('checkDatabase');
  }

  async close(): Promise<void> {
    this.touch('close');
  }
}
