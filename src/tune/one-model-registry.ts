// The registry as the tuning server sees it: only the tuned model exists, so the server loads
// and warms nothing else. Reads go to the real registry; the tuning server writes nothing.
import {
  RegistryError,
  type EpochMetricInput,
  type ModelSettingsRecord,
  type ModelSummary,
  type ModelVersionRecord,
  type RegisterVersionInput,
  type Registry,
  type RunFilter,
  type RunSummary,
  type TrainingRunRecord,
} from '../registry/types.ts';

export class OneModelRegistry implements Registry {
  readonly listModelSettings?: () => Promise<ModelSettingsRecord[]>;

  constructor(
    private readonly registry: Registry,
    private readonly model: string,
  ) {
    const list = registry.listModelSettings?.bind(registry);
    if (list) this.listModelSettings = async () => (await list()).filter((s) => s.name === model);
  }

  async listModels(): Promise<ModelSummary[]> {
    return (await this.registry.listModels()).filter((m) => m.name === this.model);
  }

  listVersions(name: string): Promise<ModelVersionRecord[]> {
    return this.registry.listVersions(name);
  }

  getVersion(name: string, ref?: number | string): Promise<ModelVersionRecord | null> {
    return this.registry.getVersion(name, ref);
  }

  readArtifact(version: ModelVersionRecord): Promise<Uint8Array> {
    return this.registry.readArtifact(version);
  }

  checkDatabase(): Promise<void> {
    return this.registry.checkDatabase();
  }

  getRun(runId: string): Promise<(TrainingRunRecord & { epochs: EpochMetricInput[] }) | null> {
    return this.registry.getRun(runId);
  }

  listRuns(filter?: RunFilter): Promise<RunSummary[]> {
    return this.registry.listRuns(filter);
  }

  /** Settling other processes' dead runs is not the tuning server's business. */
  async failStaleRuns(): Promise<number> {
    return 0;
  }

  startRun(): Promise<TrainingRunRecord> {
    return readOnly();
  }

  recordEpoch(): Promise<void> {
    return readOnly();
  }

  heartbeat(): Promise<void> {
    return readOnly();
  }

  finishRun(): Promise<void> {
    return readOnly();
  }

  registerVersion(_input: RegisterVersionInput): Promise<ModelVersionRecord> {
    return readOnly();
  }

  promote(): Promise<ModelVersionRecord> {
    return readOnly();
  }

  /** The caller owns the real registry and closes it. */
  async close(): Promise<void> {}
}

async function readOnly(): Promise<never> {
  throw new RegistryError('refused', 'the tuning server does not write to the registry');
}
