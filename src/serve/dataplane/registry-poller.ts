// The timer side of model management: every interval, check the registry, settle dead training
// runs, and let the manager re-read what should be served. Logs transitions, never rejects.
import type { Registry } from '../../registry/types.ts';

export interface PollerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RegistryPollerOptions {
  registry: Registry;
  log: PollerLog;
  /** Each poll marks training runs without a heartbeat for this long as failed. */
  staleRunMs: number;
  /** Re-reads the registry and loads what it asks for; rejects when the registry cannot be read (logged by the caller). */
  refresh: () => Promise<void>;
  /** Reads per-model settings stored in the registry (batching); before refresh, so versions it loads get them. Never rejects. */
  syncSettings?: () => Promise<void>;
}

export class RegistryPoller {
  private timer: NodeJS.Timeout | null = null;
  private polling: Promise<void> | null = null;
  private closed = false;
  /** Detail of the failing registry check, null while checkDatabase() passes. */
  private down: string | null = null;

  constructor(private readonly opts: RegistryPollerOptions) {}

  /** False from a failed registry check until the next one passes. */
  get registryUp(): boolean {
    return this.down === null;
  }

  /**
   * Runs the registry's own health check (database file still there, server answering). Logs only
   * transitions: once when it starts failing, once when it passes again.
   */
  async checkRegistry(): Promise<boolean> {
    try {
      await this.opts.registry.checkDatabase();
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      if (this.down === null) {
        this.opts.log.error(
          { err: detail },
          'the model registry is unavailable: not ready, loaded models keep serving, admin writes are refused; checking again on every poll',
        );
      }
      this.down = detail;
      return false;
    }
    if (this.down !== null) this.opts.log.info({}, 'the model registry is available again');
    this.down = null;
    return true;
  }

  /** Calls poll() every intervalMs (0: never). */
  start(intervalMs: number): void {
    if (intervalMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.poll(), intervalMs);
    this.timer.unref();
  }

  /**
   * One polling round: marks dead training runs failed, applies stored settings, then re-reads the registry. Never rejects:
   * failures are logged and the next round tries again.
   */
  poll(): Promise<void> {
    this.polling ??= (async () => {
      if (this.closed) return;
      // A registry that fails its check may still answer reads from a deleted file: read nothing then.
      if (!(await this.checkRegistry())) return;
      await this.failStaleRuns();
      await this.opts.syncSettings?.();
      await this.opts.refresh().catch(() => {}); // the refresh logs its own failure
    })().finally(() => {
      this.polling = null;
    });
    return this.polling;
  }

  private async failStaleRuns(): Promise<void> {
    const staleMs = this.opts.staleRunMs;
    try {
      const failed = await this.opts.registry.failStaleRuns(staleMs);
      if (failed > 0) this.opts.log.info({ runs: failed, staleMs }, 'marked training runs without a recent heartbeat as failed');
    } catch (err) {
      this.opts.log.warn({ err }, 'could not mark stale training runs as failed; trying again on the next poll');
    }
  }

  /** Stops the timer and waits for a poll in progress. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.polling;
  }
}
