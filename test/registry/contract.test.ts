// Runs the registry contract (contract-cases.ts) against every Registry implementation: the Prisma
// registry on SQLite and on PostgreSQL (skipped, with the reason, when no server answers; see
// BNSERVE_TEST_PG_URL in support/databases.ts), and the serving tests' FakeRegistry. Each case gets
// a fresh, empty registry whose clock it moves itself (no sleeps).
import { rm, writeFile } from 'node:fs/promises';
import { describe, test } from 'node:test';
import { openRegistry } from '../../src/registry/index.ts';
import { PrismaRegistry } from '../../src/registry/registry.ts';
import { FakeRegistry } from '../serve/fake-registry.ts';
import { CONTRACT_CASES, ContractClock, type ContractFactory } from './contract-cases.ts';
import { createTestDatabase, postgresUnavailableReason, type Provider } from './support/databases.ts';

function prismaFactory(provider: Provider): ContractFactory {
  return async (clock) => {
    const db = await createTestDatabase(provider);
    try {
      const opened = await openRegistry({ databaseUrl: db.url, artifactsDir: db.artifactsDir });
      if (!(opened instanceof PrismaRegistry)) throw new Error('openRegistry no longer returns a PrismaRegistry');
      // The same client and store, reading time from the case's clock.
      const registry = new PrismaRegistry(opened.db, opened.store, { check: () => opened.checkDatabase() }, clock.now);
      return {
        registry,
        close: async () => {
          await opened.close();
          await db.drop();
        },
        corruptArtifact: (version) => writeFile(version.artifactPath, new Uint8Array(version.artifactSize).fill(0xa5)),
        removeArtifact: (version) => rm(version.artifactPath),
      };
    } catch (error) {
      await db.drop();
      throw error;
    }
  };
}

const fakeFactory: ContractFactory = async (clock) => {
  const registry = new FakeRegistry(clock.now);
  return {
    registry,
    close: () => registry.close(),
    corruptArtifact: async (version) => registry.corruptArtifact(version.name, version.version),
    removeArtifact: async (version) => registry.removeArtifact(version.name, version.version),
  };
};

const pgUnavailable = await postgresUnavailableReason();
const BACKENDS: { name: string; factory: ContractFactory; skip: string | false }[] = [
  { name: 'FakeRegistry (test/serve/fake-registry.ts)', factory: fakeFactory, skip: false },
  { name: 'Prisma on SQLite', factory: prismaFactory('sqlite'), skip: false },
  {
    name: 'Prisma on PostgreSQL',
    factory: prismaFactory('postgresql'),
    skip: pgUnavailable ? `PostgreSQL not reachable (set BNSERVE_TEST_PG_URL): ${pgUnavailable}` : false,
  },
];

for (const backend of BACKENDS) {
  describe(`registry contract: ${backend.name}`, { skip: backend.skip }, () => {
    for (const contractCase of CONTRACT_CASES) {
      test(contractCase.name, async () => {
        const clock = new ContractClock();
        const subject = await backend.factory(clock);
        try {
          await contractCase.run(subject, clock);
        } finally {
          await subject.close();
        }
      });
    }
  });
}
