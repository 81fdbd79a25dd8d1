// In-memory Registry for serving tests: same contract as src/registry/types.ts, no database.
// test/registry/contract.test.ts runs the same cases against this fake and the Prisma registry;
// where they differ, the Prisma registry (src/registry/registry.ts) is the reference.
import { defaultVersion } from '../../src/lib/names.ts';
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
import {
  assertAlias,
  assertModelName,
  assertRegisterVersionInput,
  assertVersionNumber,
  runFilterLimit,
  toJsonValue,
} from '../../src/registry/validation.ts';

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
/** What a Float column gives back: non-finite values are stored as NULL and read as NaN. */
const finite = (value: number) => (Number.isFinite(value) ? value : Number.NaN);

type StoredRun = TrainingRunRecord & { epochs: EpochMetricInput[] };

function storedEpoch(metric: EpochMetricInput): EpochMetricInput {
  return {
    epoch: metric.epoch,
    loss: finite(metric.loss),
    dataLoss: finite(metric.dataLoss),
    regularizationLoss: finite(metric.regularizationLoss),
    metrics: Object.fromEntries(
      Object.entries(metric.metrics ?? {})
        .filter(([, value]) => typeof value === 'number')
        .map(([key, value]) => [key, finite(value)]),
    ),
  };
}

const copyEpoch = (e: EpochMetricInput): EpochMetricInput => ({ ...e, metrics: { ...e.metrics } });

function copyRun({ epochs, ...run }: StoredRun): TrainingRunRecord & { epochs: EpochMetricInput[] } {
  return { ...run, config: structuredClone(run.config), epochs: epochs.map(copyEpoch) };
}

export class FakeRegistry implements Registry {
  private readonly versions: ModelVersionRecord[] = [];
  private readonly artifacts = new Map<string, Uint8Array>();
  private readonly aliases = new Map<string, Map<string, number>>();
  private readonly runs = new Map<string, StoredRun>();
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

  /** `now`: the clock every timestamp and the staleness of runs are read from (as PrismaRegistry's). */
  constructor(private readonly now: () => Date = () => new Date()) {}

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
    assertModelName(input.name);
    if (typeof input.backend !== 'string' || input.backend === '') throw new RegistryError('invalid', 'backend must be a non-empty string');
    if (input.seed !== null && !Number.isSafeInteger(input.seed))
      throw new RegistryError('invalid', `seed must be an integer or null, got ${input.seed}`);
    const now = this.now();
    const run: StoredRun = {
      id: randomUUID(),
      name: input.name,
      status: 'running',
      backend: input.backend,
      config: toJsonValue(input.config, 'config'),
      seed: input.seed,
      bnSteps: null,
      error: null,
      startedAt: now,
      finishedAt: null,
      heartbeatAt: now,
      epochs: [],
    };
    this.runs.set(run.id, run);
    const { epochs: _epochs, ...record } = copyRun(run);
    return record;
  }

  /** Replaces an epoch recorded before under the same number; a sign of life of a running run. */
  async recordEpoch(runId: string, metric: EpochMetricInput): Promise<void> {
    this.touch('recordEpoch');
    if (!Number.isSafeInteger(metric.epoch) || metric.epoch < 0) {
      throw new RegistryError('invalid', `epoch must be an integer ≥ 0, got ${metric.epoch}`);
    }
    const run = this.run(runId);
    run.epochs = [...run.epochs.filter((e) => e.epoch !== metric.epoch), storedEpoch(metric)].sort((a, b) => a.epoch - b.epoch);
    if (run.status === 'running') run.heartbeatAt = this.now();
  }

  /** Refreshes a running run's heartbeat; a finished run keeps its status and last heartbeat. */
  async heartbeat(runId: string): Promise<void> {
    this.touch('heartbeat');
    const run = this.run(runId);
    if (run.status === 'running') run.heartbeatAt = this.now();
  }

  async finishRun(runId: string, result: { status: 'succeeded' | 'failed'; bnSteps?: number; error?: string }): Promise<void> {
    this.touch('finishRun');
    if (result.status !== 'succeeded' && result.status !== 'failed') {
      throw new RegistryError('invalid', `a run finishes as "succeeded" or "failed", not ${JSON.stringify(result.status)}`);
    }
    const run = this.run(runId);
    run.status = result.status;
    run.finishedAt = this.now();
    if (result.bnSteps !== undefined) run.bnSteps = result.bnSteps;
    run.error = result.status === 'failed' ? (result.error ?? 'failed') : null;
  }

  async getRun(runId: string) {
    this.touch('getRun');
    const run = this.runs.get(runId);
    return run ? copyRun(run) : null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunSummary[]> {
    this.touch('listRuns');
    const limit = runFilterLimit(filter);
    return [...this.runs.values()]
      .filter((run) => (!filter.name || run.name === filter.name) && (!filter.status || run.status === filter.status))
      .sort((a, b) => b.startedAt.getTime() - a.startedAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      .slice(0, limit)
      .map((stored) => {
        const { epochs, ...run } = copyRun(stored);
        return {
          ...run,
          epochCount: epochs.length,
          lastEpoch: epochs.at(-1) ?? null,
          versions: this.versions
            .filter((v) => v.runId === run.id)
            .sort((a, b) => a.version - b.version)
            .map((v) => ({ name: v.name, version: v.version, bnGuardWarning: v.bnGuardWarning })),
        };
      });
  }

  async failStaleRuns(staleMs: number): Promise<number> {
    this.staleRunChecks.push(staleMs);
    this.touch('failStaleRuns');
    if (!(staleMs >= 0) || !Number.isFinite(staleMs))
      throw new RegistryError('invalid', `staleMs must be a finite number ≥ 0, got ${staleMs}`);
    const now = this.now();
    let n = 0;
    for (const run of this.runs.values()) {
      if (run.status === 'running' && run.heartbeatAt.getTime() < now.getTime() - staleMs) {
        run.status = 'failed';
        run.finishedAt = now;
        run.error = `abandoned: no heartbeat for more than ${(staleMs / 1000).toFixed(0)} s (the training process stopped without finishing)`;
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

  private run(id: string): StoredRun {
    const run = this.runs.get(id);
    if (!run) throw new RegistryError('not_found', `training run ${id} does not exist`);
    return run;
  }

  async registerVersion(input: RegisterVersionInput): Promise<ModelVersionRecord> {
    this.touch('registerVersion');
    assertRegisterVersionInput(input);
    if (input.runId !== null) this.run(input.runId);
    const digest = sha256(input.artifact);
    this.artifacts.set(digest, new Uint8Array(input.artifact));
    const version = Math.max(0, ...this.versions.filter((v) => v.name === input.name).map((v) => v.version)) + 1;
    const record: ModelVersionRecord = {
      name: input.name,
      runId: input.runId,
      opset: input.opset,
      inputs: structuredClone(input.inputs),
      outputs: structuredClone(input.outputs),
      task: input.task,
      classLabels: [...input.classLabels],
      featureNames: [...input.featureNames],
      parityMaxAbsDiff: input.parityMaxAbsDiff,
      folded: input.folded,
      bnGuardWarning: input.bnGuardWarning ?? null,
      id: this.nextId++,
      version,
      artifactSha256: digest,
      artifactSize: input.artifact.byteLength,
      artifactPath: `/memory/${digest}.onnx`,
      createdAt: this.now(),
      aliases: [],
    };
    this.versions.push(record);
    return this.withAliases(record);
  }

  /** A copy of the record with its aliases (sorted by name), as every read returns it. */
  private withAliases(record: ModelVersionRecord): ModelVersionRecord {
    const aliases = [...(this.aliases.get(record.name) ?? new Map<string, number>())]
      .filter(([, v]) => v === record.version)
      .map(([a]) => a)
      .sort();
    return { ...structuredClone(record), aliases };
  }

  async listModels(): Promise<ModelSummary[]> {
    this.touch('listModels');
    const names = [...new Set(this.versions.map((v) => v.name))].sort();
    return names.map((name) => {
      const own = this.versions.filter((v) => v.name === name);
      const aliases = [...(this.aliases.get(name) ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return {
        name,
        latestVersion: Math.max(...own.map((v) => v.version)),
        latestUnflaggedVersion: Math.max(0, ...own.filter((v) => v.bnGuardWarning === null).map((v) => v.version)),
        versionCount: own.length,
        aliases: Object.fromEntries(aliases),
      };
    });
  }

  async listVersions(name: string): Promise<ModelVersionRecord[]> {
    this.touch('listVersions');
    assertModelName(name);
    return this.own(name).map((v) => this.withAliases(v));
  }

  async getVersion(name: string, ref?: number | string): Promise<ModelVersionRecord | null> {
    this.touch('getVersion');
    assertModelName(name);
    if (typeof ref === 'string' && /^\d+$/.test(ref)) ref = Number(ref);
    if (typeof ref === 'number') assertVersionNumber(ref);
    else if (typeof ref === 'string') assertAlias(ref);
    else if (ref !== undefined) throw new RegistryError('invalid', `a version reference is a number or an alias, got ${typeof ref}`);
    const own = this.own(name);
    const aliases = this.aliases.get(name) ?? new Map<string, number>();
    const version =
      typeof ref === 'number'
        ? ref
        : typeof ref === 'string'
          ? aliases.get(ref)
          : defaultVersion(Object.fromEntries(aliases), own.filter((v) => v.bnGuardWarning === null).at(-1)?.version ?? 0);
    const found = own.find((v) => v.version === version);
    return found ? this.withAliases(found) : null;
  }

  async promote(name: string, version: number, alias: string, options: { force?: boolean } = {}): Promise<ModelVersionRecord> {
    this.touch('promote');
    assertModelName(name);
    assertVersionNumber(version);
    assertAlias(alias);
    const own = this.own(name);
    const found = own.find((v) => v.version === version);
    if (!found) {
      throw new RegistryError(
        'not_found',
        own.length === 0
          ? `model ${name} has no registered versions`
          : `model ${name} has no version ${version} (versions: ${own.map((v) => v.version).join(', ')})`,
      );
    }
    if (found.bnGuardWarning !== null && !options.force) {
      throw new RegistryError(
        'refused',
        `${name} version ${version} was flagged by the BN guard, so alias "${alias}" was not moved: ${found.bnGuardWarning}. ` +
          'Retrain (more steps, lower momentum), or promote with --force to serve it anyway',
      );
    }
    // An alias never points at an artifact that cannot be served (not counted as a readArtifact call).
    this.verifiedBytes(found);
    if (!this.aliases.has(name)) this.aliases.set(name, new Map());
    this.aliases.get(name)!.set(alias, version);
    return this.withAliases(found);
  }

  async readArtifact(version: ModelVersionRecord): Promise<Uint8Array> {
    this.touch('readArtifact');
    return new Uint8Array(this.verifiedBytes(version));
  }

  /** The stored bytes of a version's artifact, or the errors src/registry/artifact-store.ts gives. */
  private verifiedBytes(version: ModelVersionRecord): Uint8Array {
    const bytes = this.artifacts.get(version.artifactSha256);
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
    const bytes = this.artifacts.get(this.record(name, version).artifactSha256)!;
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

  /** One model's versions, oldest first. */
  private own(name: string): ModelVersionRecord[] {
    return this.versions.filter((v) => v.name === name).sort((a, b) => a.version - b.version);
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
