import { defaultVersion } from '../lib/names.ts';
import { randomUUID } from 'node:crypto';
import { JsonNull } from '@prisma/client/runtime/client';
import type { ArtifactStore } from './artifact-store.ts';
import type { DatabasePresence } from './database-presence.ts';
import type { RegistryDb } from './prisma-client.ts';
import type { BatchingOverride } from '../lib/batching.ts';
import { finiteOrNull, metricsToJson, toEpochInput, toModelSettingsRecord, toRunRecord, toVersionRecord } from './records.ts';
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
} from './types.ts';
import {
  assertAlias,
  assertModelName,
  assertRegisterVersionInput,
  assertVersionNumber,
  parseBatchingOverride,
  runFilterLimit,
  toJsonValue,
} from './validation.ts';

/** Retries when another process took the same version number first (unique name+version). */
const MAX_VERSION_ATTEMPTS = 50;
const WITH_ALIASES = { aliases: { select: { alias: true } } } as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function prismaCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** SQLite reports a lock held past the busy timeout as a socket timeout. */
function isTransient(error: unknown): boolean {
  return prismaCode(error) === 'P1008' || /SocketTimeout|database is locked/i.test(String((error as Error)?.message));
}

function runNotFound(runId: string): RegistryError {
  return new RegistryError('not_found', `training run ${runId} does not exist`);
}

export class PrismaRegistry implements Registry {
  constructor(
    readonly db: RegistryDb,
    readonly store: ArtifactStore,
    private readonly presence: DatabasePresence,
    private readonly now: () => Date = () => new Date(),
  ) {}

  checkDatabase(): Promise<void> {
    return this.presence.check();
  }

  async startRun(input: { name: string; config: unknown; backend: string; seed: number | null }): Promise<TrainingRunRecord> {
    assertModelName(input.name);
    if (typeof input.backend !== 'string' || input.backend === '') throw new RegistryError('invalid', 'backend must be a non-empty string');
    if (input.seed !== null && !Number.isSafeInteger(input.seed))
      throw new RegistryError('invalid', `seed must be an integer or null, got ${input.seed}`);
    const config = toJsonValue(input.config, 'config');
    await this.checkDatabase();
    const now = this.now();
    const row = await this.db.trainingRun.create({
      data: {
        id: randomUUID(),
        name: input.name,
        status: 'running',
        backend: input.backend,
        config: config === null ? JsonNull : (config as object),
        seed: input.seed,
        startedAt: now,
        heartbeatAt: now,
      },
    });
    return toRunRecord(row);
  }

  async recordEpoch(runId: string, metric: EpochMetricInput): Promise<void> {
    if (!Number.isSafeInteger(metric.epoch) || metric.epoch < 0) {
      throw new RegistryError('invalid', `epoch must be an integer ≥ 0, got ${metric.epoch}`);
    }
    const values = {
      loss: finiteOrNull(metric.loss),
      dataLoss: finiteOrNull(metric.dataLoss),
      regularizationLoss: finiteOrNull(metric.regularizationLoss),
      metrics: metricsToJson(metric.metrics),
      recordedAt: this.now(),
    };
    await this.checkDatabase();
    try {
      await this.db.$transaction([
        this.db.epochMetric.upsert({
          where: { runId_epoch: { runId, epoch: metric.epoch } },
          create: { runId, epoch: metric.epoch, ...values },
          update: values,
        }),
        this.db.trainingRun.updateMany({ where: { id: runId, status: 'running' }, data: { heartbeatAt: this.now() } }),
      ]);
    } catch (error) {
      if (prismaCode(error) === 'P2003') throw runNotFound(runId);
      throw error;
    }
  }

  async heartbeat(runId: string): Promise<void> {
    await this.checkDatabase();
    const { count } = await this.db.trainingRun.updateMany({
      where: { id: runId, status: 'running' },
      data: { heartbeatAt: this.now() },
    });
    if (count === 0 && !(await this.db.trainingRun.findUnique({ where: { id: runId }, select: { id: true } }))) {
      throw runNotFound(runId);
    }
  }

  /** Last writer wins: a run wrongly presumed dead by failStaleRuns gets its real outcome. */
  async finishRun(runId: string, result: { status: 'succeeded' | 'failed'; bnSteps?: number; error?: string }): Promise<void> {
    if (result.status !== 'succeeded' && result.status !== 'failed') {
      throw new RegistryError('invalid', `a run finishes as "succeeded" or "failed", not ${JSON.stringify(result.status)}`);
    }
    await this.checkDatabase();
    const { count } = await this.db.trainingRun.updateMany({
      where: { id: runId },
      data: {
        status: result.status,
        finishedAt: this.now(),
        ...(result.bnSteps === undefined ? {} : { bnSteps: result.bnSteps }),
        error: result.status === 'failed' ? (result.error ?? 'failed') : null,
      },
    });
    if (count === 0) throw runNotFound(runId);
  }

  async getRun(runId: string): Promise<(TrainingRunRecord & { epochs: EpochMetricInput[] }) | null> {
    const row = await this.db.trainingRun.findUnique({
      where: { id: runId },
      include: { epochs: { orderBy: { epoch: 'asc' } } },
    });
    return row ? { ...toRunRecord(row), epochs: row.epochs.map(toEpochInput) } : null;
  }

  async listRuns(filter: RunFilter = {}): Promise<RunSummary[]> {
    const limit = runFilterLimit(filter);
    const rows = await this.db.trainingRun.findMany({
      where: { ...(filter.name ? { name: filter.name } : {}), ...(filter.status ? { status: filter.status } : {}) },
      orderBy: [{ startedAt: 'desc' }, { id: 'asc' }],
      take: limit,
      include: {
        epochs: { orderBy: { epoch: 'desc' }, take: 1 },
        versions: { select: { name: true, version: true, bnGuardWarning: true }, orderBy: { version: 'asc' } },
        _count: { select: { epochs: true } },
      },
    });
    return rows.map((row) => ({
      ...toRunRecord(row),
      epochCount: row._count.epochs,
      lastEpoch: row.epochs[0] ? toEpochInput(row.epochs[0]) : null,
      versions: row.versions,
    }));
  }

  async failStaleRuns(staleMs: number): Promise<number> {
    if (!(staleMs >= 0) || !Number.isFinite(staleMs))
      throw new RegistryError('invalid', `staleMs must be a finite number ≥ 0, got ${staleMs}`);
    await this.checkDatabase();
    const now = this.now();
    const { count } = await this.db.trainingRun.updateMany({
      where: { status: 'running', heartbeatAt: { lt: new Date(now.getTime() - staleMs) } },
      data: {
        status: 'failed',
        finishedAt: now,
        error: `abandoned: no heartbeat for more than ${(staleMs / 1000).toFixed(0)} s (the training process stopped without finishing)`,
      },
    });
    return count;
  }

  async registerVersion(input: RegisterVersionInput): Promise<ModelVersionRecord> {
    assertRegisterVersionInput(input);
    await this.checkDatabase();
    if (input.runId !== null && !(await this.db.trainingRun.findUnique({ where: { id: input.runId }, select: { id: true } }))) {
      throw runNotFound(input.runId);
    }
    // Writers clean up after writers that were killed mid-write (the server never writes here).
    await this.store.sweepAbandonedTemps().catch(() => []);
    // The row may only exist once its artifact is durably stored: write the file first.
    const stored = await this.store.put(input.artifact);
    for (let attempt = 1; attempt <= MAX_VERSION_ATTEMPTS; attempt++) {
      const latest = await this.db.modelVersion.findFirst({
        where: { name: input.name },
        orderBy: { version: 'desc' },
        select: { version: true },
      });
      try {
        const row = await this.db.modelVersion.create({
          data: {
            name: input.name,
            version: (latest?.version ?? 0) + 1,
            runId: input.runId,
            artifactSha256: stored.sha256,
            artifactSize: stored.size,
            artifactPath: stored.relativePath,
            opset: input.opset,
            inputs: toJsonValue(input.inputs, 'inputs') as object,
            outputs: toJsonValue(input.outputs, 'outputs') as object,
            task: input.task,
            classLabels: [...input.classLabels],
            featureNames: [...input.featureNames],
            parityMaxAbsDiff: input.parityMaxAbsDiff,
            folded: input.folded,
            bnGuardWarning: input.bnGuardWarning ?? null,
            createdAt: this.now(),
          },
          include: WITH_ALIASES,
        });
        return toVersionRecord(row, this.store.root);
      } catch (error) {
        if (prismaCode(error) === 'P2003' && input.runId !== null) throw runNotFound(input.runId);
        if (prismaCode(error) !== 'P2002' && !isTransient(error)) throw error;
        await sleep(2 + Math.random() * 10 * Math.min(attempt, 5));
      }
    }
    throw new RegistryError('conflict', `could not allocate a version number for ${input.name} after ${MAX_VERSION_ATTEMPTS} attempts`);
  }

  async listModels(): Promise<ModelSummary[]> {
    const [groups, unflagged, aliases] = await Promise.all([
      this.db.modelVersion.groupBy({ by: ['name'], _max: { version: true }, _count: { _all: true }, orderBy: { name: 'asc' } }),
      this.db.modelVersion.groupBy({ by: ['name'], where: { bnGuardWarning: null }, _max: { version: true } }),
      this.db.modelAlias.findMany({ orderBy: [{ name: 'asc' }, { alias: 'asc' }] }),
    ]);
    const latestUnflagged = new Map(unflagged.map((g) => [g.name, g._max.version ?? 0]));
    return groups.map((group) => ({
      name: group.name,
      latestVersion: group._max.version ?? 0,
      latestUnflaggedVersion: latestUnflagged.get(group.name) ?? 0,
      versionCount: group._count._all,
      aliases: Object.fromEntries(aliases.filter((a) => a.name === group.name).map((a) => [a.alias, a.version])),
    }));
  }

  async listVersions(name: string): Promise<ModelVersionRecord[]> {
    assertModelName(name);
    const rows = await this.db.modelVersion.findMany({ where: { name }, orderBy: { version: 'asc' }, include: WITH_ALIASES });
    return rows.map((row) => toVersionRecord(row, this.store.root));
  }

  async getVersion(name: string, ref?: number | string): Promise<ModelVersionRecord | null> {
    assertModelName(name);
    if (typeof ref === 'string' && /^\d+$/.test(ref)) ref = Number(ref);
    if (typeof ref === 'number') {
      assertVersionNumber(ref);
      const row = await this.db.modelVersion.findUnique({ where: { name_version: { name, version: ref } }, include: WITH_ALIASES });
      return row ? toVersionRecord(row, this.store.root) : null;
    }
    if (typeof ref === 'string') {
      assertAlias(ref);
      const alias = await this.db.modelAlias.findUnique({
        where: { name_alias: { name, alias: ref } },
        include: { modelVersion: { include: WITH_ALIASES } },
      });
      return alias ? toVersionRecord(alias.modelVersion, this.store.root) : null;
    }
    if (ref !== undefined) throw new RegistryError('invalid', `a version reference is a number or an alias, got ${typeof ref}`);
    const [aliases, latestUnflagged] = await Promise.all([
      this.db.modelAlias.findMany({ where: { name } }),
      this.db.modelVersion.findFirst({ where: { name, bnGuardWarning: null }, orderBy: { version: 'desc' }, select: { version: true } }),
    ]);
    const version = defaultVersion(Object.fromEntries(aliases.map((a) => [a.alias, a.version])), latestUnflagged?.version ?? 0);
    return version > 0 ? this.getVersion(name, version) : null;
  }

  async promote(name: string, version: number, alias: string, options: { force?: boolean } = {}): Promise<ModelVersionRecord> {
    assertModelName(name);
    assertVersionNumber(version);
    assertAlias(alias);
    const missing = async () => {
      const versions = (
        await this.db.modelVersion.findMany({ where: { name }, select: { version: true }, orderBy: { version: 'asc' } })
      ).map((v) => v.version);
      return new RegistryError(
        'not_found',
        versions.length === 0
          ? `model ${name} has no registered versions`
          : `model ${name} has no version ${version} (versions: ${versions.join(', ')})`,
      );
    };
    await this.checkDatabase();
    const target = await this.db.modelVersion.findUnique({ where: { name_version: { name, version } }, include: WITH_ALIASES });
    if (!target) throw await missing();
    if (target.bnGuardWarning !== null && !options.force) {
      throw new RegistryError(
        'refused',
        `${name} version ${version} was flagged by the BN guard, so alias "${alias}" was not moved: ${target.bnGuardWarning}. ` +
          'Retrain (more steps, lower momentum), or promote with --force to serve it anyway',
      );
    }
    // An alias must never point at an artifact that cannot be served: check it before moving.
    await this.readArtifact(toVersionRecord(target, this.store.root));
    // One upsert statement: readers see the old target or the new one, never no alias.
    try {
      await this.db.modelAlias.upsert({
        where: { name_alias: { name, alias } },
        create: { name, alias, version, updatedAt: this.now() },
        update: { version, updatedAt: this.now() },
      });
    } catch (error) {
      if (prismaCode(error) === 'P2003') throw await missing();
      if (isTransient(error)) {
        throw new RegistryError(
          'unavailable',
          `the registry database is locked by another process, so alias "${alias}" was not moved; try again shortly`,
        );
      }
      throw error;
    }
    const row = await this.db.modelVersion.findUniqueOrThrow({ where: { name_version: { name, version } }, include: WITH_ALIASES });
    return toVersionRecord(row, this.store.root);
  }

  async listModelSettings(): Promise<ModelSettingsRecord[]> {
    const rows = await this.db.modelSettings.findMany({ orderBy: { name: 'asc' } });
    return rows.map(toModelSettingsRecord);
  }

  async setModelBatching(name: string, batching: BatchingOverride): Promise<ModelSettingsRecord | null> {
    assertModelName(name);
    const override = parseBatchingOverride(batching);
    await this.checkDatabase();
    if ((await this.db.modelVersion.count({ where: { name } })) === 0) {
      throw new RegistryError('not_found', `model ${name} has no registered versions`);
    }
    try {
      if (Object.keys(override).length === 0) {
        await this.db.modelSettings.deleteMany({ where: { name } });
        return null;
      }
      const row = await this.db.modelSettings.upsert({
        where: { name },
        create: { name, batching: override, updatedAt: this.now() },
        update: { batching: override, updatedAt: this.now() },
      });
      return toModelSettingsRecord(row);
    } catch (error) {
      if (isTransient(error)) {
        throw new RegistryError(
          'unavailable',
          `the registry database is locked by another process, so the batching settings of ${name} were not stored; try again shortly`,
        );
      }
      throw error;
    }
  }

  async readArtifact(version: ModelVersionRecord): Promise<Uint8Array> {
    return this.store.read(version.artifactPath, version.artifactSha256);
  }

  async close(): Promise<void> {
    await this.db.$disconnect();
  }
}
