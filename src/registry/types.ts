// The registry's contract, shared by the trainer (writes) and the server (reads).
// Implemented in src/registry/registry.ts; nothing here depends on Prisma or tfjs.

import type { BatchingOverride } from '../lib/batching.ts';
import { BnserveError } from '../lib/errors.ts';

export type RunStatus = 'running' | 'succeeded' | 'failed';

/** Open Inference Protocol element datatypes a registered graph may declare (ONNX's tensor types). */
export const TENSOR_DATATYPES = [
  'FP32',
  'FP64',
  'FP16',
  'BF16',
  'INT8',
  'INT16',
  'INT32',
  'INT64',
  'UINT8',
  'UINT16',
  'UINT32',
  'UINT64',
  'BOOL',
  'BYTES',
] as const;
export type TensorDatatype = (typeof TENSOR_DATATYPES)[number];

export interface TensorSignature {
  name: string;
  datatype: TensorDatatype;
  /** -1 marks the dynamic batch dimension. */
  shape: number[];
}

export interface EpochMetricInput {
  epoch: number;
  loss: number;
  dataLoss: number;
  regularizationLoss: number;
  /** Any further metrics by name: accuracy, valLoss, valAccuracy, mae, rmse, learningRate, ... */
  metrics: Record<string, number>;
}

export interface TrainingRunRecord {
  id: string;
  name: string;
  status: RunStatus;
  backend: string;
  config: unknown;
  seed: number | null;
  bnSteps: number | null;
  error: string | null;
  startedAt: Date;
  finishedAt: Date | null;
  heartbeatAt: Date;
}

export interface RegisterVersionInput {
  name: string;
  runId: string | null;
  /** The ONNX bytes: stored content-addressed before the row is committed. */
  artifact: Uint8Array;
  opset: number;
  inputs: TensorSignature[];
  outputs: TensorSignature[];
  task: 'classification' | 'regression';
  classLabels: string[];
  featureNames: string[];
  parityMaxAbsDiff: number;
  folded: boolean;
  /** The BN guard's message when it flagged the run; null (or absent) when it did not. */
  bnGuardWarning?: string | null;
}

export interface ModelVersionRecord extends Omit<RegisterVersionInput, 'artifact' | 'bnGuardWarning'> {
  bnGuardWarning: string | null;
  id: number;
  version: number;
  artifactSha256: string;
  artifactSize: number;
  /** Absolute path of the artifact inside the store. */
  artifactPath: string;
  createdAt: Date;
  aliases: string[];
}

export interface ModelSummary {
  name: string;
  latestVersion: number;
  /** The latest version the BN guard did not flag (served by default without a production alias); 0 when none. */
  latestUnflaggedVersion: number;
  versionCount: number;
  aliases: Record<string, number>;
}

export const MAX_LISTED_RUNS = 10_000;

export interface RunFilter {
  /** Exact model name. */
  name?: string;
  status?: RunStatus;
  /** Newest first; at most this many (default and cap: 10,000). */
  limit?: number;
}

/** A run as lists show it: its last recorded epoch instead of all of them, and the versions it produced. */
export interface RunSummary extends TrainingRunRecord {
  epochCount: number;
  lastEpoch: EpochMetricInput | null;
  versions: { name: string; version: number; bnGuardWarning: string | null }[];
}

/**
 * A model's stored serving settings (`bnserve tune --apply`), keyed by model name: they follow the
 * model across versions, and every server applies them on its registry poll.
 */
export interface ModelSettingsRecord {
  name: string;
  /** The stored batching override; {} when the stored value is not one (see problem). */
  batching: BatchingOverride;
  /** Why the stored value cannot be used (edited by hand, written by another bnserve); null when it can. */
  problem: string | null;
  updatedAt: Date;
}

export interface Registry {
  startRun(input: { name: string; config: unknown; backend: string; seed: number | null }): Promise<TrainingRunRecord>;
  recordEpoch(runId: string, metric: EpochMetricInput): Promise<void>;
  heartbeat(runId: string): Promise<void>;
  finishRun(runId: string, result: { status: 'succeeded' | 'failed'; bnSteps?: number; error?: string }): Promise<void>;
  getRun(runId: string): Promise<(TrainingRunRecord & { epochs: EpochMetricInput[] }) | null>;
  /** Runs newest first (startedAt), filtered by exact name and status. */
  listRuns(filter?: RunFilter): Promise<RunSummary[]>;
  /** Marks runs still 'running' whose heartbeat is older than staleMs as failed; returns how many. */
  failStaleRuns(staleMs: number): Promise<number>;

  /** Writes the artifact (atomic, content-addressed), then commits the row; version = max + 1 per name. */
  registerVersion(input: RegisterVersionInput): Promise<ModelVersionRecord>;
  listModels(): Promise<ModelSummary[]>;
  listVersions(name: string): Promise<ModelVersionRecord[]>;
  /**
   * version: a number, or an alias name; undefined → the 'production' alias if set, else the latest
   * version the BN guard did not flag (a flagged version is served only when asked for by number or alias).
   */
  getVersion(name: string, ref?: number | string): Promise<ModelVersionRecord | null>;
  /**
   * Moves (or creates) the alias atomically, after checking the version's artifact (sha256);
   * throws RegistryError('not_found') for a missing version, 'integrity' for a bad artifact, and
   * 'refused' for a version the BN guard flagged, unless `force` is set.
   */
  promote(name: string, version: number, alias: string, options?: { force?: boolean }): Promise<ModelVersionRecord>;

  /**
   * Per-model settings. Optional: a registry without a database (a model folder) stores none, and
   * servers over it skip them.
   */
  listModelSettings?(): Promise<ModelSettingsRecord[]>;
  /**
   * Stores the model's batching override, replacing the previous one ({} removes it: returns null).
   * RegistryError 'invalid' for an override outside batchingOverrideSchema, 'not_found' for a model
   * with no registered version.
   */
  setModelBatching?(name: string, batching: BatchingOverride): Promise<ModelSettingsRecord | null>;

  /** Reads an artifact and checks its sha256; throws RegistryError('integrity') on mismatch. */
  readArtifact(version: ModelVersionRecord): Promise<Uint8Array>;
  /**
   * Throws RegistryError('unavailable') when the database is gone: the SQLite file was deleted or
   * replaced since it was opened, or PostgreSQL does not answer. Every write checks this first.
   */
  checkDatabase(): Promise<void>;
  close(): Promise<void>;
}

export type RegistryErrorCode = 'not_found' | 'conflict' | 'integrity' | 'invalid' | 'unavailable' | 'refused';

export class RegistryError extends BnserveError {
  declare readonly code: RegistryErrorCode;
  constructor(code: RegistryErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * A registered artifact whose file is not in the store. Code 'integrity', like a sha256 mismatch
 * (the edges answer both alike), but its own class: a server retries a missing file (it may be
 * restored) and gives up on changed bytes.
 */
export class ArtifactMissingError extends RegistryError {
  constructor(readonly artifactPath: string) {
    super('integrity', `artifact ${artifactPath} is missing from the store`);
  }
}
