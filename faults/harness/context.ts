import type { Golden } from './fixtures.ts';
import type { ScenarioResult } from './report.ts';

export interface FaultContext {
  /** CI mode: fewer requests and seconds, same criteria. */
  short: boolean;
  /** The suite's temp folder (removed at the end). */
  work: string;
  /** Two Iris versions trained once per suite run (lazily, shared). */
  golden(): Promise<Golden>;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  /** Upper bound on the scenario's wall time in each mode; the runner fails it past this. */
  budgetSeconds: { short: number; full: number };
  run(ctx: FaultContext): Promise<Omit<ScenarioResult, 'seconds'>>;
}
