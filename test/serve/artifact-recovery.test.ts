// A version whose artifact file is damaged or missing is not re-read on every poll, but is loaded by
// the next poll once the file changes (put back from a backup), without an admin load.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { openRegistry } from '../../src/registry/index.ts';
import { ModelManager } from '../../src/serve/dataplane/model-manager.ts';
import { ProviderChain } from '../../src/serve/dataplane/providers.ts';
import { randomMlp, versionInput } from './fixtures.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'bnserve-artifact-recovery-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const quiet = { info() {}, warn() {}, error() {} };

for (const fault of ['corrupt', 'missing'] as const) {
  it(`a ${fault} artifact: not read again while unchanged, served by the next poll once the file is back`, async () => {
    const registry = await openRegistry({ databaseUrl: `file:${path.join(dir, `${fault}.db`)}`, artifactsDir: path.join(dir, fault) });
    await registry.registerVersion(versionInput('iris', randomMlp(31), 'classification'));
    const v2 = await registry.registerVersion(versionInput('iris', randomMlp(32), 'classification'));
    await registry.promote('iris', 2, 'production');
    const good = readFileSync(v2.artifactPath);
    if (fault === 'corrupt') writeFileSync(v2.artifactPath, Buffer.from(good).fill(7, good.length - 16));
    else unlinkSync(v2.artifactPath);

    let reads = 0;
    const readArtifact = registry.readArtifact.bind(registry);
    registry.readArtifact = (v) => {
      reads++;
      return readArtifact(v);
    };
    const manager = new ModelManager({
      registry,
      providers: new ProviderChain(['cpu']),
      load: { batching: { enabled: true, maxRows: 64 } },
      log: quiet,
      retryBaseMs: 3_600_000, // no backoff retry within this test: only a changed file may trigger one
    });
    try {
      await manager.refreshAll();
      assert.equal(manager.status('iris').failures[0]?.version, 2);
      const afterFirst = reads;
      await manager.refreshAll();
      assert.equal(reads, afterFirst, 'an unchanged broken file is not read again');
      assert.equal(manager.readiness().ready, false);

      writeFileSync(`${v2.artifactPath}.restore`, good);
      (await import('node:fs')).renameSync(`${v2.artifactPath}.restore`, v2.artifactPath);
      await manager.refreshAll();
      const lease = await manager.acquire('iris');
      lease.release();
      assert.equal(lease.version.version, 2, 'served once the file is back');
      assert.deepEqual(manager.status('iris').failures, []);
      assert.equal(manager.readiness().ready, true);
    } finally {
      await manager.close();
      await registry.close();
    }
  });
}
