import cliProgress from 'cli-progress';
import type { EpochMetrics } from './trainer.ts';

export interface ProgressReporter {
  epoch(metrics: EpochMetrics, total: number): void;
  stop(): void;
}

function summary(m: EpochMetrics): string {
  const parts = [`loss ${m.loss.toFixed(4)}`, `reg ${m.regularizationLoss.toFixed(4)}`];
  for (const [key, value] of Object.entries(m.validation)) parts.push(`${key} ${value.toFixed(4)}`);
  return parts.join('  ');
}

/** A progress bar on a terminal, one plain line per epoch elsewhere (logs, CI, pipes). */
export function createProgress(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  if (!stream.isTTY) {
    return {
      epoch: (m, total) => stream.write(`epoch ${m.epoch}/${total}  ${summary(m)}\n`),
      stop: () => {},
    };
  }
  const bar = new cliProgress.SingleBar(
    { format: 'epoch {value}/{total} [{bar}] {summary}', stream, hideCursor: true, clearOnComplete: false },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    epoch: (m, total) => {
      if (!started) {
        bar.start(total, 0, { summary: '' });
        started = true;
      }
      bar.update(m.epoch, { summary: summary(m) });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
