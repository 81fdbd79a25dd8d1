import cliProgress from 'cli-progress';
import type { EpochMetrics } from './trainer.ts';

export interface ProgressReporter {
  epoch(metrics: EpochMetrics, total: number): void;
  stop(): void;
}

/** Four decimals for ordinary values; 4 significant digits in exponent form for huge or tiny ones (a diverging run). */
export function formatMetric(value: number): string {
  const size = Math.abs(value);
  return size !== 0 && (size >= 1e6 || size < 1e-4) ? value.toExponential(3) : value.toFixed(4);
}

function summary(m: EpochMetrics): string {
  const parts = [`loss ${formatMetric(m.loss)}`, `reg ${formatMetric(m.regularizationLoss)}`];
  for (const [key, value] of Object.entries(m.validation)) parts.push(`${key} ${formatMetric(value)}`);
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
