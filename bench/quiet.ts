// Benchmarks judge the machine by its 1-minute load average: figures measured while other work
// shares the cores are not comparable. Starting a benchmark (tsx, a model) lifts the average by
// itself, so it gets up to two minutes to settle first.
import os from 'node:os';

/** Above this 1-min load average at the start, other work shares the cores and ratios mean little. */
export const MAX_LOAD = 0.5;

/** Waits (up to maxWaitS) for the 1-minute load average to drop to MAX_LOAD or below; returns it. */
export async function waitForQuietMachine(maxWaitS = 120): Promise<number> {
  for (let waited = 0; os.loadavg()[0] > MAX_LOAD && waited < maxWaitS; waited += 5) await new Promise((r) => setTimeout(r, 5000));
  return os.loadavg()[0];
}
