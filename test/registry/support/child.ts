// A separate process acting as a trainer, for tests of what happens across processes:
//   child.ts migrate          DATABASE_URL ARTIFACTS                  → {"applied":[...]}
//   child.ts register         DATABASE_URL ARTIFACTS NAME COUNT       → waits for "go" on stdin, registers COUNT versions
//   child.ts train-forever    DATABASE_URL ARTIFACTS NAME             → starts a run, records epochs until killed
//   child.ts register-forever DATABASE_URL ARTIFACTS NAME BYTES       → registers large artifacts until killed
// Prints one JSON object per line on stdout.
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { openRegistry, startHeartbeat } from '../../../src/registry/index.ts';
import { versionInput } from './inputs.ts';

const [mode, databaseUrl, artifactsDir, name, arg] = process.argv.slice(2);
const emit = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

function waitForGo(): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'go') {
        lines.close();
        process.stdin.destroy();
        resolve();
      }
    });
  });
}

let applied: string[] = [];
const registry = await openRegistry({ databaseUrl, artifactsDir, onMigrated: (m) => (applied = m.applied) });
try {
  if (mode === 'migrate') {
    emit({ applied });
  } else if (mode === 'register') {
    emit({ ready: true });
    await waitForGo();
    const versions: number[] = [];
    for (let i = 0; i < Number(arg); i++) {
      versions.push((await registry.registerVersion(versionInput(name))).version);
    }
    emit({ versions });
  } else if (mode === 'train-forever') {
    const run = await registry.startRun({ name, config: { epochs: 1_000_000 }, backend: 'test', seed: 1 });
    startHeartbeat(registry, run.id, 100);
    emit({ runId: run.id });
    for (let epoch = 0; ; epoch++) {
      await registry.recordEpoch(run.id, { epoch, loss: 1 / (epoch + 1), dataLoss: 1 / (epoch + 1), regularizationLoss: 0, metrics: {} });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } else if (mode === 'register-forever') {
    const run = await registry.startRun({ name, config: {}, backend: 'test', seed: null });
    emit({ runId: run.id });
    for (;;) {
      const version = await registry.registerVersion(
        versionInput(name, { runId: run.id, artifact: new Uint8Array(randomBytes(Number(arg))) }),
      );
      emit({ version: version.version });
    }
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  await registry.close();
}
