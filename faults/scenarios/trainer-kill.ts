// `bnserve train` SIGKILLed mid-epoch and mid-checkpoint-write: nothing half-registered (no model
// version for the killed runs), each killed run marked failed by the next bnserve command, and no
// `*.tmp-*` leftovers in the checkpoint root or the artifact store after the next training run.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, watch, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Scenario } from '../harness/context.ts';
import { FAST_CONFIG, sqliteLocation, trainIris } from '../harness/fixtures.ts';
import { runBnserve, sleep, spawnBnserve, waitUntil } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';

function tmpLeftovers(root: string): string[] {
  if (!existsSync(root)) return [];
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.name.includes('.tmp-')) found.push(path.relative(root, full));
      if (entry.isDirectory()) walk(full);
    }
  };
  walk(root);
  return found;
}

const runIdOf = (stderr: string) => /\(run ([0-9a-f-]{36})\)/.exec(stderr)?.[1];

export const trainerKill: Scenario = {
  name: 'trainer-kill',
  budgetSeconds: { short: 150, full: 240 },
  async run(ctx) {
    const checks = new Checks();
    const dir = mkdtempSync(path.join(ctx.work, 'trainer-'));
    const location = sqliteLocation(dir);
    const env = { DATABASE_URL: location.databaseUrl, BNSERVE_ARTIFACTS: location.artifacts };
    const checkpointRoot = path.join(dir, 'data', 'checkpoints'); // the default root, relative to the trainer's cwd
    const base = JSON.parse((await import('node:fs')).readFileSync(FAST_CONFIG, 'utf8')) as Record<string, unknown>;
    const killed: Array<{ when: string; runId: string | undefined; windowHit: boolean }> = [];

    // 1. Mid-epoch: a long run killed once epoch 3 has started.
    const longConfig = path.join(dir, 'killed-epoch.json');
    writeFileSync(longConfig, JSON.stringify({ ...base, name: 'killed-epoch', epochs: 100_000, batchSize: 4 }));
    {
      const trainer = spawnBnserve(['train', '--config', longConfig], env, dir);
      const reached = await waitUntil(async () => /epoch 3\//.test(trainer.stderr()) || trainer.child.exitCode !== null, 60_000, 20);
      trainer.child.kill('SIGKILL');
      await trainer.exited;
      killed.push({
        when: 'mid-epoch',
        runId: runIdOf(trainer.stderr()),
        windowHit: reached !== null && /epoch 3\//.test(trainer.stderr()),
      });
    }

    // 2. Mid-checkpoint-write: killed as soon as the checkpoint's temp folder appears (retried if the window is missed).
    const ckptConfig = path.join(dir, 'killed-ckpt.json');
    writeFileSync(
      ckptConfig,
      JSON.stringify({
        ...base,
        name: 'killed-ckpt',
        epochs: 2,
        layers: [
          { type: 'dense', units: 512 },
          { type: 'batchNormalization', momentum: 0.5 },
          { type: 'activation', activation: 'relu' },
        ],
      }),
    );
    for (let attempt = 0; attempt < 3; attempt++) {
      const watched = path.join(checkpointRoot, 'killed-ckpt');
      mkdirSync(watched, { recursive: true });
      const trainer = spawnBnserve(['train', '--config', ckptConfig], env, dir);
      let sawTemp = false;
      const watcher = watch(watched, (_event, name) => {
        if (!sawTemp && name?.includes('.tmp-')) {
          sawTemp = true;
          trainer.child.kill('SIGKILL');
        }
      });
      const timer = setTimeout(() => trainer.child.kill('SIGKILL'), 90_000);
      await trainer.exited;
      clearTimeout(timer);
      watcher.close();
      const finals = readdirSync(watched).filter((n) => !n.includes('.tmp-'));
      const hit = sawTemp && finals.length === 0 && tmpLeftovers(watched).length > 0;
      killed.push({ when: `mid-checkpoint (attempt ${attempt + 1})`, runId: runIdOf(trainer.stderr()), windowHit: hit });
      if (hit) break;
    }
    checks.add(
      'killed mid-epoch',
      killed[0].windowHit,
      killed[0].windowHit ? `run ${killed[0].runId} killed during epoch 3` : 'the trainer did not reach epoch 3',
    );
    const ckptHit = killed.slice(1).some((k) => k.windowHit);
    checks.add(
      'killed mid-checkpoint-write',
      ckptHit,
      `${killed.length - 1} attempt(s); ${ckptHit ? 'temp folder present, no final checkpoint at the kill' : 'the kill never landed inside the checkpoint write'}`,
    );

    // 3. The next command marks the killed runs failed; nothing is registered for them.
    await sleep(1500);
    const list = await runBnserve(['models', 'list', '--json'], { ...env, BNSERVE_STALE_RUN_SECONDS: '1' }, 60_000, dir);
    const models = list.code === 0 ? (JSON.parse(list.stdout) as { models: Array<{ name: string }> }).models.map((m) => m.name) : null;
    checks.add(
      'no model version for the killed runs',
      models !== null && !models.some((m) => m.startsWith('killed-')),
      `models list exit ${list.code}: ${JSON.stringify(models)}`,
    );
    const db = new Database(location.dbFile, { readonly: true });
    const statuses = killed.map((k) => {
      const row = k.runId
        ? (db.prepare('SELECT status FROM TrainingRun WHERE id = ?').get(k.runId) as { status: string } | undefined)
        : undefined;
      return { ...k, status: row?.status ?? 'no run row' };
    });
    const versionsOfKilled = (db.prepare("SELECT count(*) AS n FROM ModelVersion WHERE name LIKE 'killed-%'").get() as { n: number }).n;
    db.close();
    checks.add(
      'killed runs marked failed by the next command',
      statuses.every((s) => s.runId === undefined || s.status === 'failed') && statuses.some((s) => s.status === 'failed'),
      statuses.map((s) => `${s.when}: ${s.status}`).join(', '),
    );
    checks.add('no ModelVersion rows for the killed runs', versionsOfKilled === 0, `${versionsOfKilled} row(s)`);

    // 4. The next training run sweeps stray temp files.
    const before = { checkpoints: tmpLeftovers(checkpointRoot), artifacts: tmpLeftovers(location.artifacts) };
    const nextConfig = path.join(dir, 'next.json');
    writeFileSync(nextConfig, JSON.stringify({ ...base, name: 'next-run', epochs: 5 }));
    const next = await trainIris(location, 3, dir, [], nextConfig);
    const after = { checkpoints: tmpLeftovers(checkpointRoot), artifacts: tmpLeftovers(location.artifacts) };
    checks.add(
      'the next run (another model, same checkpoint root and store) registered a version',
      next.model !== undefined,
      `${next.model?.name} version ${next.model?.version}`,
    );
    checks.add(
      'no *.tmp-* left after the next run',
      after.checkpoints.length + after.artifacts.length === 0,
      `before the run: ${before.checkpoints.length + before.artifacts.length} (${[...before.checkpoints, ...before.artifacts].join(', ') || 'none'}); after: ${[...after.checkpoints, ...after.artifacts].join(', ') || 'none'}`,
    );
    return {
      scenario: 'trainer-kill',
      pass: checks.pass,
      sent: killed.length + 2,
      failed: versionsOfKilled + after.checkpoints.length + after.artifacts.length,
      lost: 0,
      outcome: checks.outcome(),
      checks: checks.list,
      numbers: { killed: statuses, leftoversBefore: before, leftoversAfter: after },
    };
  },
};
