// A corrupt, truncated or missing artifact: promoting to it (CLI and admin route) is refused and the
// previous version keeps serving without a failed request; a server restarted with the alias on the
// broken artifact stays up, its readiness says whether it can serve, and once the file is restored it
// serves the version by itself (bounded wait).
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Scenario } from '../harness/context.ts';
import { cloneGolden, MODEL } from '../harness/fixtures.ts';
import { answerOf, keepAliveAgent, loadLoop, predictSpec, request } from '../harness/http.ts';
import { lastJson, runBnserve, sleep, waitUntil } from '../harness/processes.ts';
import { Checks } from '../harness/report.ts';
import { registryEnvOf, ServerProcess } from '../harness/server.ts';

/** Error messages name the artifact's full temp path: keep its file name only. */
const shortPaths = (text: string) => text.replace(/\/\S+\/([^/\s]+\.onnx)/g, '…/$1');

type Breakage = 'corrupt' | 'truncated' | 'missing';
const BREAKAGES: Breakage[] = ['corrupt', 'truncated', 'missing'];

function breakFile(file: string, how: Breakage, original: Buffer): void {
  if (how === 'missing') rmSync(file);
  else if (how === 'truncated') writeFileSync(file, original.subarray(0, Math.floor(original.length / 2)));
  else {
    const bytes = Buffer.from(original);
    for (let i = 64; i < bytes.length; i += 97) bytes[i] ^= 0xff;
    writeFileSync(file, bytes);
  }
}

export const artifactFaults: Scenario = {
  name: 'artifact-faults',
  budgetSeconds: { short: 240, full: 300 },
  async run(ctx) {
    const checks = new Checks();
    const golden = await ctx.golden();
    const [good, broken] = golden.versions;
    const location = cloneGolden(golden, ctx.work, 'artifact');
    const env = registryEnvOf(location);
    const file = path.join(location.artifacts, broken.relativePath);
    const original = readFileSync(file);
    // Short mode: the two ends (bytes changed, file gone); truncation takes the same integrity path.
    const breakages: Breakage[] = ctx.short ? ['corrupt', 'missing'] : BREAKAGES;
    const recoverMs = ctx.short ? 10_000 : 30_000;
    let sent = 0;
    let failed = 0;
    let lost = 0;

    // Part 1: promote to a broken artifact while the good version serves under light load.
    let server = await ServerProcess.start(location);
    try {
      const setup = await server.promote(MODEL, good.version);
      if (setup.status !== 200) throw new Error(`setup promote answered ${setup.status}`);
      let stop = false;
      const versions: Record<string, number> = {};
      const agent = keepAliveAgent(2);
      const load = loadLoop({
        workers: 2,
        maxRequests: 1_000_000,
        maxMs: 200_000,
        pauseMs: 5,
        stop: () => stop,
        send: () => request(server.url, predictSpec(MODEL), { agent }),
        onResult: (o) => {
          sent++;
          if (o.error) lost++;
          else if (o.result!.status !== 200) failed++;
          else {
            const v = answerOf(o.result!.body)?.version ?? -1;
            versions[v] = (versions[v] ?? 0) + 1;
          }
        },
      });
      for (const how of breakages) {
        breakFile(file, how, original);
        const cli = await runBnserve(['models', 'promote', MODEL, String(broken.version), '--json'], env, 60_000);
        const show = await runBnserve(['models', 'show', MODEL, '--json'], env, 60_000);
        const production = show.code === 0 ? lastJson<{ aliases: Record<string, number> }>(show.stdout).aliases.production : undefined;
        checks.add(
          `${how}: CLI promote refused, alias unchanged`,
          cli.code !== 0 && production === good.version,
          `exit ${cli.code}${cli.code !== 0 ? ` (${shortPaths(cli.stderr.trim().split('\n').at(-1) ?? '').slice(0, 200)})` : ''}; production → ${production}`,
        );
        const admin = await server.promote(MODEL, broken.version);
        checks.add(
          `${how}: admin promote refused with a 4xx`,
          admin.status >= 400 && admin.status < 500,
          `${admin.status} ${shortPaths(admin.body).slice(0, 200)}`,
        );
        const [ready, modelReady] = [await server.ready(), await server.status(`/v2/models/${MODEL}/ready`)];
        checks.add(
          `${how}: still ready (previous version serves)`,
          ready === 200 && modelReady === 200,
          `/v2/health/ready ${ready}, model ready ${modelReady}`,
        );
        writeFileSync(file, original);
        await sleep(300);
      }
      stop = true;
      await load;
      agent.destroy();
      checks.add(
        'previous version kept serving every request',
        failed + lost === 0 && Object.keys(versions).every((v) => Number(v) === good.version),
        `${sent} requests, ${failed} failed, ${lost} lost, answers by version ${JSON.stringify(versions)}`,
      );
    } finally {
      await server.kill();
    }

    // Part 2: restart with the alias on the broken artifact, then restore the file.
    const promoted = await runBnserve(['models', 'promote', MODEL, String(broken.version), '--json'], env, 60_000);
    if (promoted.code !== 0) throw new Error(`promote with an intact artifact failed: ${promoted.stderr}`);
    const restarts: Record<string, unknown> = {};
    for (const how of breakages) {
      breakFile(file, how, original);
      server = await ServerProcess.start(location, { requireReady: false });
      try {
        await sleep(1500); // a few refresh rounds
        const predict = await request(server.url, predictSpec(MODEL)).catch((e: Error) => ({ status: 0, body: e.message, headers: {} }));
        sent++;
        const ready = await server.ready();
        const modelReady = await server.status(`/v2/models/${MODEL}/ready`);
        if (predict.status >= 500 && predict.status !== 503) failed++;
        checks.add(
          `restart on ${how}: server up, inference answers 200 or 503`,
          server.alive() && (predict.status === 200 || predict.status === 503),
          `predict ${predict.status}`,
        );
        const serves = predict.status === 200;
        checks.add(
          `restart on ${how}: readiness tells the truth`,
          (ready === 200) === serves && (modelReady === 200) === serves,
          `predict ${predict.status}; /v2/health/ready ${ready}; /v2/models/${MODEL}/ready ${modelReady}`,
        );
        writeFileSync(file, original);
        const took = await waitUntil(async () => {
          const answer = await request(server.url, predictSpec(MODEL));
          return answer.status === 200 && answerOf(answer.body)?.version === broken.version && (await server.ready()) === 200;
        }, recoverMs);
        checks.add(
          `restart on ${how}: recovers by itself once the file is back`,
          took !== null,
          took !== null
            ? `serving v${broken.version} ${took} ms after the restore`
            : `not serving v${broken.version} ${recoverMs / 1000} s after the restore`,
        );
        restarts[how] = { predictStatus: predict.status, ready, modelReady, recoveredMs: took };
      } finally {
        await server.kill();
      }
    }
    return {
      scenario: 'artifact-faults',
      pass: checks.pass,
      sent,
      failed,
      lost,
      outcome: checks.outcome(),
      checks: checks.list,
      numbers: { restarts },
    };
  },
};
