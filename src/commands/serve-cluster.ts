// BNSERVE_WORKERS > 1: node:cluster, one listening socket shared by N serving processes. The
// primary applies migrations once, forks the workers, restarts one that dies, and on SIGTERM/SIGINT
// asks each to drain (they stop accepting, answer in-flight requests and exit) before it exits.
import cluster, { type Worker } from 'node:cluster';
import { answerClusterMetrics } from '../serve/cluster-metrics.ts';
import { EXIT_CODES } from './errors.ts';

/** A worker that dies this soon after it was forked is failing to start, not crashing in service. */
const EARLY_EXIT_MS = 10_000;
const MAX_EARLY_EXITS = 3;

export const isClusterWorker = () => cluster.isWorker;

/**
 * A worker that failed to start leaves the cluster, so that nothing keeps it alive and it exits
 * with its error's exit code, which the primary reads (process.disconnect() would exit 0 at once).
 */
export const leaveClusterAfterFailure = () => cluster.worker?.disconnect();

export async function runServePrimary(workers: number, log: (line: string) => void): Promise<void> {
  let stopping = false;
  let earlyExits = 0;
  const started = new Map<number, number>();
  const fork = () => {
    const worker = cluster.fork();
    started.set(worker.id, Date.now());
    return worker;
  };
  answerClusterMetrics();
  for (let i = 0; i < workers; i++) fork();
  log(`bnserve: ${workers} serving processes share the port (BNSERVE_WORKERS=${workers})`);

  const allExited = new Promise<void>((resolve) => {
    const stopAll = (exitCode: number) => {
      process.exitCode = exitCode;
      stopping = true;
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
      if (started.size === 0) resolve();
    };
    cluster.on('exit', (worker: Worker, code, signal) => {
      const lived = Date.now() - (started.get(worker.id) ?? 0);
      started.delete(worker.id);
      if (stopping) {
        if (started.size === 0) resolve();
        return;
      }
      // Its configuration was refused (a port taken since the primary checked it): another would be too.
      if (code === EXIT_CODES.invalid_config) {
        log(`bnserve: serving process ${worker.process.pid} cannot start with this configuration (its error is above); stopping`);
        stopAll(code);
        return;
      }
      log(`bnserve: serving process ${worker.process.pid} exited (${signal ?? `code ${code}`}); starting another`);
      if (lived < EARLY_EXIT_MS && ++earlyExits >= MAX_EARLY_EXITS) {
        log('bnserve: serving processes keep exiting right after start; stopping (see their errors above)');
        stopAll(1);
        return;
      }
      fork();
    });
  });

  const signal = await Promise.race([
    new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGTERM', () => resolve('SIGTERM'));
      process.once('SIGINT', () => resolve('SIGINT'));
    }),
    allExited.then(() => null),
  ]);
  if (signal) {
    stopping = true;
    log(`bnserve: ${signal} received: every serving process drains and exits`);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    if (started.size > 0) await allExited;
  }
}
