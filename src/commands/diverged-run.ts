import { lstat, mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CONFIG_FILE, METRICS_FILE, PREPROCESSING_FILE } from '../checkpoint/index.ts';
import { writeFileAtomic } from '../lib/durable-fs.ts';
import type { TrainConfig } from '../train/config.ts';
import type { TrainResult } from '../train/trainer.ts';

/** The files of a diverged run's folder: no model, so never mistaken for (or exported as) a checkpoint. */
export const DIVERGED_RUN_FILES = ['diverged.json', METRICS_FILE, CONFIG_FILE, PREPROCESSING_FILE, 'cost.svg'] as const;

export interface DivergedRun {
  runId: string;
  config: TrainConfig;
  result: TrainResult;
  error: string;
}

const encode = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);

const DIVERGED_NOTE = 'a diverged run: metrics and plot only, no model (not a checkpoint)';

/** Evidence that an earlier diverged run wrote the folder: file names alone prove nothing (a user's metrics.json). */
async function hasOurDivergedNote(dir: string): Promise<boolean> {
  try {
    const note = JSON.parse(await readFile(path.join(dir, 'diverged.json'), 'utf8'));
    return typeof note?.runId === 'string' && note.note === DIVERGED_NOTE;
  } catch {
    return false;
  }
}

/** A folder we may write into: missing, empty, or an earlier diverged run's (its files only, and its diverged.json). */
async function writable(dir: string): Promise<boolean> {
  try {
    if (!(await lstat(dir)).isDirectory()) return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT';
  }
  const entries = await readdir(dir, { withFileTypes: true });
  if (entries.length === 0) return true;
  const ours: ReadonlySet<string> = new Set(DIVERGED_RUN_FILES);
  return entries.every((e) => e.isFile() && ours.has(e.name)) && (await hasOurDivergedNote(dir));
}

/**
 * Keeps what a diverged run learnt about itself (every epoch's metrics, the config, the cost plot) so
 * that the divergence can be looked at; returns the sentence that says where. Best effort: a failure
 * to keep them is said, never thrown over the training error.
 */
export async function keepDivergedRun(dir: string, run: DivergedRun): Promise<string> {
  try {
    if (!(await writable(dir))) return `Its metrics were not kept: ${dir} holds other files.`;
    await mkdir(dir, { recursive: true });
    const { result } = run;
    await writeFileAtomic(path.join(dir, 'diverged.json'), encode({ runId: run.runId, error: run.error, note: DIVERGED_NOTE }));
    await writeFileAtomic(
      path.join(dir, METRICS_FILE),
      encode({
        runId: run.runId,
        diverged: true,
        backend: result.backend,
        firstBatchLoss: result.firstBatchLoss,
        bestEpoch: result.bestEpoch,
        epochs: result.epochs,
        test: result.test,
      }),
    );
    await writeFileAtomic(path.join(dir, CONFIG_FILE), encode(run.config));
    await writeFileAtomic(path.join(dir, PREPROCESSING_FILE), encode(result.preprocessing));
    const { runReportCommand } = await import('./report.ts');
    await runReportCommand({ checkpoint: dir, out: path.join(dir, 'cost.svg'), resolution: 60 });
    return `Its epochs (also in the registry, run ${run.runId}) and cost plot are kept in ${dir} (metrics.json, cost.svg).`;
  } catch (error) {
    return `Its metrics could not be kept in ${dir}: ${(error as Error).message}.`;
  }
}
