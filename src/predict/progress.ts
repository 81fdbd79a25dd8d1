// The progress of `bnserve predict` on a terminal: how much of the input is read, rows scored, rows
// per second, time left. Nothing when stderr is not a terminal (logs, CI, Kubernetes Jobs): the
// summary at the end says it all there.
import cliProgress from 'cli-progress';

export interface PredictProgress {
  /** After each batch: bytes of the input read so far and rows written. */
  update(bytesRead: number, rows: number): void;
  stop(): void;
}

const NONE: PredictProgress = { update: () => {}, stop: () => {} };

/** A bar sized by the input file's bytes, on `stream` when it is a terminal. */
export function createPredictProgress(totalBytes: number, stream: NodeJS.WriteStream = process.stderr): PredictProgress {
  if (!stream.isTTY || totalBytes <= 0) return NONE;
  const bar = new cliProgress.SingleBar(
    {
      // At most 80 columns for a million rows: cli-progress cuts lines at the terminal's width.
      format: 'predict [{bar}] {percentage}% | {rows} rows | {speed} rows/s | ETA {eta_formatted}',
      barsize: 24,
      stream,
      hideCursor: false,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  let stopped = false;
  bar.start(totalBytes, 0, { rows: 0, speed: 0 });
  return {
    update: (bytesRead, rows) => {
      const seconds = (performance.now() - started) / 1000;
      bar.update(Math.min(bytesRead, totalBytes), { rows, speed: seconds > 0 ? Math.round(rows / seconds) : 0 });
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}
