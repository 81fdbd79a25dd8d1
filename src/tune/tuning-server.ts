// The real serving path, started in this process for one model version, and driven the way an
// operator drives a running server: settings through the admin API (PUT .../batching; the
// repository's unload + load for a new instance count), counts from Triton's statistics route.
import { randomBytes } from 'node:crypto';
import type { BatchingOptions, BatchingOverride } from '../lib/batching.ts';
import { BnserveError } from '../lib/errors.ts';
import type { ModelVersionRecord, Registry } from '../registry/types.ts';
import { OneModelRegistry } from './one-model-registry.ts';

/** A server call that did not answer as it should: the sweep cannot go on. */
export class TuneServerError extends BnserveError {
  constructor(message: string) {
    super('model_unavailable', message);
  }
}

export interface ExecutionCounts {
  /** Rows answered (Triton's inference_count). */
  rows: number;
  /** onnxruntime runs (execution_count). */
  runs: number;
}

/** Longest wait for one call (a reload included): a server that does not answer stops the sweep instead of hanging it. */
const CALL_TIMEOUT_MS = 60_000;
/** Shortest: even at the end of the budget a call gets this long. */
const MIN_CALL_TIMEOUT_MS = 5_000;

export class TuningServer {
  /** performance.now() by which calls should be over (the sweep's budget); calls wait at most until then, within the bounds above. */
  private deadline = Number.POSITIVE_INFINITY;

  private constructor(
    private readonly server: { url: string; close(): Promise<void> },
    private readonly token: string,
    private readonly record: ModelVersionRecord,
    private readonly body: string,
  ) {}

  /** Starts the server on a free loopback port (no gRPC, no response cache, no payload log, request log at warn on stderr). */
  static async start(registry: Registry, record: ModelVersionRecord, body: string, env: NodeJS.ProcessEnv): Promise<TuningServer> {
    const { startServer } = await import('../serve/index.ts');
    const token = randomBytes(24).toString('hex');
    const server = await startServer({
      registry: new OneModelRegistry(registry, record.name),
      env,
      host: '127.0.0.1',
      port: 0,
      grpcPort: null,
      adminToken: token,
      refreshIntervalMs: 0,
      responseCache: { maxBytes: 0, models: null },
      payloadLog: null,
      logger: { level: 'warn', base: null, stream: process.stderr },
    });
    const tuning = new TuningServer(server, token, record, body);
    try {
      await tuning.inferOnce();
    } catch (err) {
      await server.close();
      throw err;
    }
    return tuning;
  }

  setDeadline(at: number): void {
    this.deadline = at;
  }

  private timed(what: string, call: (signal: AbortSignal) => Promise<Response>): Promise<Response> {
    const ms = Math.round(Math.max(MIN_CALL_TIMEOUT_MS, Math.min(CALL_TIMEOUT_MS, this.deadline - performance.now())));
    return call(AbortSignal.timeout(ms)).catch((err: unknown) => {
      if (err instanceof Error && err.name === 'TimeoutError') throw new TuneServerError(`${what} got no answer within ${ms / 1000} s`);
      throw err;
    });
  }

  /** Where the load goes: this version's v2 infer route. */
  get inferUrl(): string {
    return `${this.server.url}/v2/models/${this.record.name}/versions/${this.record.version}/infer`;
  }

  private async call(method: string, path: string, body?: unknown): Promise<unknown> {
    const response = await this.timed(`${method} ${path}`, (signal) =>
      fetch(`${this.server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      }),
    );
    const text = await response.text();
    if (!response.ok) throw new TuneServerError(`${method} ${path} answered ${response.status}: ${text.slice(0, 500)}`);
    return text === '' ? null : JSON.parse(text);
  }

  /** One request with the sweep's body: loads the version (on demand) and proves the body is accepted. */
  async inferOnce(): Promise<void> {
    const response = await this.timed('the tuning request', (signal) =>
      fetch(this.inferUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: this.body, signal }),
    );
    if (!response.ok) {
      throw new TuneServerError(
        `${this.record.name} version ${this.record.version} did not answer the tuning request (${response.status}): ${(await response.text()).slice(0, 500)}`,
      );
    }
    await response.arrayBuffer();
  }

  /** The model's batching settings as its scheduler uses them now. */
  async effectiveBatching(): Promise<BatchingOptions> {
    const answer = (await this.call('GET', `/admin/models/${this.record.name}/batching`)) as { effective: BatchingOptions };
    return answer.effective;
  }

  /**
   * Sets the model's batching override (as PUT /admin/models/{m}/batching does); a new instance
   * count takes a reload (the admin unload + load), then one request loads the version again.
   */
  async setBatching(override: BatchingOverride): Promise<void> {
    const before = await this.effectiveBatching();
    await this.call('PUT', `/admin/models/${this.record.name}/batching`, override);
    if (override.instanceCount !== undefined && override.instanceCount !== before.instanceCount) {
      await this.call('POST', `/v2/repository/models/${this.record.name}/unload`, {});
      await this.call('POST', `/v2/repository/models/${this.record.name}/load`, {});
      await this.inferOnce();
    }
  }

  async counts(): Promise<ExecutionCounts> {
    const answer = (await this.call('GET', `/v2/models/${this.record.name}/versions/${this.record.version}/stats`)) as {
      model_stats: { inference_count: number; execution_count: number }[];
    };
    const s = answer.model_stats[0];
    return { rows: s?.inference_count ?? 0, runs: s?.execution_count ?? 0 };
  }

  close(): Promise<void> {
    return this.server.close();
  }
}
