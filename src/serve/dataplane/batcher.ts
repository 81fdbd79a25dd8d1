// Per-model-version request scheduler: a bounded queue in front of one or more onnxruntime
// instances, merging queued requests into batches the way Triton's dynamic batcher does.
import type { BatchingOptions } from '../config.ts';
import { failQueueWait, type QueuedTrace, startQueueWait, traceBatch } from './batch-tracing.ts';
import { ModelUnavailableError } from './errors.ts';
import type { Feed, RunOutputs } from './tensors.ts';
import { elementCount, type ElementArray } from './tensor-data.ts';

/** Runs one set of model inputs (in the model's input order), each [rows, ...], through the model. */
export type Execute = (feeds: readonly Feed[]) => Promise<RunOutputs>;

export interface BatchResult {
  outputs: RunOutputs;
  /** Seconds between submit and the start of the run that served it. */
  queueSeconds: number;
  /** Seconds the (possibly shared) run took. */
  computeSeconds: number;
  /** Rows in that run, this request's and others'. */
  batchRows: number;
}

/** How long a client told to come back should wait (Retry-After, whole seconds). */
export const RETRY_AFTER_SECONDS = 1;

/** The model's queue is full or a request waited too long: 503 with Retry-After. */
export class OverloadedError extends ModelUnavailableError {
  readonly retryAfterSeconds = RETRY_AFTER_SECONDS;
  constructor(
    message: string,
    override readonly reason: 'queue_full' | 'queue_timeout',
  ) {
    super(message, reason, 'overloaded');
  }
}

interface Pending {
  inputs: readonly Feed[];
  rows: number;
  submittedAt: number;
  /** performance.now() after which the request is dropped from the queue; Infinity = never. */
  deadline: number;
  resolve: (r: BatchResult) => void;
  reject: (e: unknown) => void;
  /** Its queue wait span, when submitted under a recording span. */
  trace: QueuedTrace | null;
}

/** Where one run's time went: merging inputs, onnxruntime, splitting outputs (seconds). */
export interface ExecutionTimings {
  inputSeconds: number;
  inferSeconds: number;
  outputSeconds: number;
}

export interface SubmitOptions {
  /** This request's own queue timeout (it can only shorten the model's). */
  timeoutMicroseconds?: number;
}

/**
 * Requests go into a FIFO queue of at most maxQueueSize; whenever one of instanceCount instances is
 * free, a batch is formed from the head of the queue:
 * - maxQueueDelayMicroseconds = 0: at once, with whatever is queued (never waits when idle);
 * - otherwise when the queued rows reach maxBatchSize or a preferred size, or when the oldest
 *   request has waited the delay.
 * A batch is the longest prefix of the queue within maxBatchSize rows, cut at the largest
 * preferred size such a prefix reaches. Settings are read at every decision, so changes apply live
 * (instanceCount is fixed by the executor: the caller passes what it was built with).
 * Only valid for models whose rows are independent (inference-mode BN, dense layers); with
 * `splittable` false (no batch dimension everywhere) every request runs alone.
 */
export class DynamicBatcher {
  private readonly queue: Pending[] = [];
  private running = 0;
  /** Cancels the pending delay wake-up (a timer, or for waits under 1 ms a clock check per event-loop turn). */
  private delayTimer: (() => void) | null = null;
  private delayTimerAt = Infinity;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepAt = Infinity;
  private closed = false;

  constructor(
    private readonly execute: Execute,
    private readonly settings: () => BatchingOptions,
    private readonly instances: number,
    private readonly splittable = true,
    /** Called once per run, after it: timings only when the run succeeded. */
    private readonly onBatch?: (rows: number, requests: number, timings?: ExecutionTimings) => void,
  ) {}

  /** Requests waiting for an instance (Triton's pending request count). */
  get queued(): number {
    return this.queue.length;
  }

  /** Runs in progress (at most the instance count). */
  get busy(): number {
    return this.running;
  }

  /** The error a request gets when the queue is full, or null while there is room. */
  queueFullError(): OverloadedError | null {
    const { maxQueueSize } = this.settings();
    if (this.queue.length < maxQueueSize) return null;
    return new OverloadedError(
      `the queue of this model is full (${maxQueueSize} requests waiting); retry after ${RETRY_AFTER_SECONDS} s`,
      'queue_full',
    );
  }

  /** Queues one request: its feeds in the model's input order, each with `rows` as first dimension. */
  submit(inputs: readonly Feed[], rows: number, opts: SubmitOptions = {}): Promise<BatchResult> {
    if (this.closed) return Promise.reject(closedError());
    const full = this.queueFullError();
    if (full) return Promise.reject(full);
    const s = this.settings();
    const now = performance.now();
    const limits = [s.queueTimeoutMicroseconds, opts.timeoutMicroseconds ?? 0].filter((t) => t > 0);
    const deadline = limits.length > 0 ? now + Math.min(...limits) / 1000 : Infinity;
    const trace = startQueueWait(rows, now);
    return new Promise<BatchResult>((resolve, reject) => {
      this.queue.push({ inputs, rows, submittedAt: now, deadline, resolve, reject, trace });
      if (deadline < this.sweepAt) this.armSweep(deadline);
      this.schedule();
    });
  }

  private schedule(): void {
    while (this.running < this.instances && this.queue.length > 0) {
      const s = this.settings();
      const now = performance.now();
      const waitUntil = this.dispatchTime(s, now);
      if (waitUntil > now) {
        this.armDelay(waitUntil);
        return;
      }
      const group = this.takeGroup(s);
      // Nothing left to wait for: a delay or sweep timer armed for this group would keep the process alive for nothing.
      if (this.queue.length === 0) {
        this.clearDelay();
        this.clearSweep();
      }
      this.running++;
      void this.runGroup(group, now).finally(() => {
        this.running--;
        this.schedule();
      });
    }
  }

  /** When the head of the queue should be dispatched (≤ now: at once). */
  private dispatchTime(s: BatchingOptions, now: number): number {
    if (!s.enabled || !this.splittable || s.maxQueueDelayMicroseconds <= 0) return now;
    const oldest = this.queue[0].submittedAt + s.maxQueueDelayMicroseconds / 1000;
    if (oldest <= now) return now;
    let rows = 0;
    for (const p of this.queue) {
      rows += p.rows;
      if (rows >= s.maxBatchSize || s.preferredBatchSizes.includes(rows)) return now;
    }
    return oldest;
  }

  private takeGroup(s: BatchingOptions): Pending[] {
    const limit = s.enabled && this.splittable ? s.maxBatchSize : 0;
    let rows = this.queue[0].rows;
    let take = 1;
    let preferred = 0;
    if (s.preferredBatchSizes.includes(rows)) preferred = take;
    while (take < this.queue.length && rows + this.queue[take].rows <= limit) {
      rows += this.queue[take].rows;
      take++;
      if (s.preferredBatchSizes.includes(rows)) preferred = take;
    }
    return this.queue.splice(0, preferred > 0 ? preferred : take);
  }

  private async runGroup(group: Pending[], start: number): Promise<void> {
    const rows = group.reduce((n, p) => n + p.rows, 0);
    let inferStart: number | undefined;
    let inferEnd: number | undefined;
    try {
      const inputs =
        group.length === 1
          ? group[0].inputs
          : group[0].inputs.map((f, i) => ({ data: concatRows(group.map((p) => p.inputs[i].data)), dims: [rows, ...f.dims.slice(1)] }));
      inferStart = performance.now();
      const outputs = await this.execute(inputs);
      inferEnd = performance.now();
      const computeSeconds = (inferEnd - start) / 1000;
      let offset = 0;
      const own = group.map((p) => {
        const part = group.length === 1 ? outputs : sliceRows(outputs, offset, p.rows, rows);
        offset += p.rows;
        return part;
      });
      const end = performance.now();
      this.onBatch?.(rows, group.length, {
        inputSeconds: (inferStart - start) / 1000,
        inferSeconds: (inferEnd - inferStart) / 1000,
        outputSeconds: (end - inferEnd) / 1000,
      });
      traceBatch(
        group.map((p) => p.trace),
        { start, inferStart, inferEnd, end },
        rows,
      );
      group.forEach((p, i) => {
        p.resolve({ outputs: own[i], queueSeconds: (start - p.submittedAt) / 1000, computeSeconds, batchRows: rows });
      });
    } catch (err) {
      this.onBatch?.(rows, group.length);
      traceBatch(
        group.map((p) => p.trace),
        { start, inferStart, inferEnd, end: performance.now() },
        rows,
        err,
      );
      for (const p of group) p.reject(err);
    }
  }

  private armDelay(at: number): void {
    if (this.delayTimer && this.delayTimerAt <= at) return;
    this.clearDelay();
    this.delayTimerAt = at;
    const fire = () => {
      this.delayTimer = null;
      this.delayTimerAt = Infinity;
      this.schedule();
    };
    const wait = at - performance.now();
    if (wait >= 1) {
      const timer = setTimeout(fire, wait);
      this.delayTimer = () => clearTimeout(timer);
      return;
    }
    // Node's timers fire no sooner than 1 ms: a shorter delay (Triton's are often 100-500 µs) would
    // wait 1 ms or more. Instead the clock is checked once per event-loop turn, with I/O in between.
    let check: NodeJS.Immediate;
    const poll = () => {
      if (performance.now() >= at) fire();
      else check = setImmediate(poll);
    };
    check = setImmediate(poll);
    this.delayTimer = () => clearImmediate(check);
  }

  /**
   * Stops the batcher when its version is released: both timers cleared, anything still queued
   * rejected as not loaded, later submits refused. Runs in progress finish.
   */
  close(): void {
    this.closed = true;
    this.clearSweep();
    this.clearDelay();
    for (const p of this.queue.splice(0)) {
      const err = closedError();
      failQueueWait(p.trace, err);
      p.reject(err);
    }
  }

  private clearDelay(): void {
    this.delayTimer?.();
    this.delayTimer = null;
    this.delayTimerAt = Infinity;
  }

  private clearSweep(): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    this.sweepAt = Infinity;
  }

  private armSweep(at: number): void {
    if (this.sweepTimer) clearTimeout(this.sweepTimer);
    this.sweepAt = at;
    // +1 ms: timers may fire a little early relative to performance.now().
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(0, at - performance.now()) + 1);
  }

  /** Rejects every queued request past its deadline, then re-arms for the next deadline. */
  private sweep(): void {
    this.sweepTimer = null;
    this.sweepAt = Infinity;
    const now = performance.now();
    let next = Infinity;
    let kept = 0;
    for (const p of this.queue) {
      if (p.deadline <= now) {
        const err = new OverloadedError(
          `the request waited ${((now - p.submittedAt) / 1000).toFixed(3)} s in the queue of this model without starting (queue timeout); retry after ${RETRY_AFTER_SECONDS} s`,
          'queue_timeout',
        );
        failQueueWait(p.trace, err);
        p.reject(err);
      } else {
        this.queue[kept++] = p;
        next = Math.min(next, p.deadline);
      }
    }
    this.queue.length = kept;
    if (next < Infinity) this.armSweep(next);
    if (kept === 0) this.clearDelay();
  }
}

const closedError = () => new ModelUnavailableError('this model version was unloaded while the request waited; retry', 'not_loaded');

export function concatRows(parts: readonly ElementArray[]): ElementArray {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const Ctor = parts[0].constructor as new (n: number) => ElementArray;
  const out = new Ctor(total);
  let offset = 0;
  for (const part of parts) {
    // Same element type by construction (one model input); the cast only satisfies the union type.
    (out as Float32Array).set(part as Float32Array, offset);
    offset += part.length;
  }
  return out;
}

/** Rows [start, start+rows) of every output whose first dimension is the batch. */
export function sliceRows(outputs: RunOutputs, start: number, rows: number, totalRows: number): RunOutputs {
  const result: RunOutputs = {};
  for (const [name, t] of Object.entries(outputs)) {
    if (t.shape[0] !== totalRows)
      throw new Error(`output ${name} has no batch dimension (shape [${t.shape.join(', ')}]); cannot split a merged batch`);
    const perRow = elementCount(t.shape.slice(1));
    result[name] = { ...t, shape: [rows, ...t.shape.slice(1)], data: t.data.subarray(start * perRow, (start + rows) * perRow) };
  }
  return result;
}
