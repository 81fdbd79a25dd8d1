// Payload logging for audit and drift analysis (KServe's `logger`): sampled inference exchanges as
// CloudEvents 1.0 (structured JSON, KServe's event types), to a file (JSON lines, rotated by size) or
// an HTTP(S) endpoint. Written off the request path through a bounded queue: when the sink cannot
// keep up, events are dropped and counted, and inference never waits for it.
import { randomUUID } from 'node:crypto';
import { type FileHandle, open, rename, stat } from 'node:fs/promises';
import { hostname } from 'node:os';

export interface PayloadLogOptions {
  /** A file path (JSON lines) or an http(s):// URL (one POST per event). */
  target: string;
  /** Fraction of exchanges logged, 0..1. */
  sample: number;
  /** Models whose exchanges are logged; null: every model. */
  models: string[] | null;
  /** Exchanges waiting to be written at most; beyond, new ones are dropped. */
  queueSize: number;
  /** A file sink starts a new file past this size (the old one becomes `<file>.1`). */
  maxFileBytes: number;
}

export interface Exchange {
  model: string;
  version: number;
  requestId: string;
  /** What the caller sent, as the server decoded it. */
  request: unknown;
  /** What the server answered. */
  response: unknown;
}

export interface PayloadSink {
  write(event: string): Promise<void>;
  close(): Promise<void>;
}

/** KServe's logger event types, so that its consumers read ours. */
export const REQUEST_EVENT = 'org.kubeflow.serving.inference.request';
export const RESPONSE_EVENT = 'org.kubeflow.serving.inference.response';

/** Typed arrays as JSON arrays (64-bit integers as strings), everything else as JSON.stringify writes it. */
function tensorsAsJson(_key: string, value: unknown): unknown {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => (typeof v === 'bigint' ? v.toString() : v));
  }
  return value;
}

export function cloudEvents(x: Exchange, source: string, now = new Date()): [string, string] {
  const base = {
    specversion: '1.0',
    source,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    inferenceservicename: x.model,
    modelversion: String(x.version),
    requestid: x.requestId,
  };
  return [
    JSON.stringify({ ...base, id: `${x.requestId}-request`, type: REQUEST_EVENT, data: x.request }, tensorsAsJson),
    JSON.stringify({ ...base, id: `${x.requestId}-response`, type: RESPONSE_EVENT, data: x.response }, tensorsAsJson),
  ];
}

/** How every event this module writes begins (cloudEvents' first keys): how a file is known to be a payload log. */
const EVENT_PREFIX = '{"specversion":"1.0","source":"bnserve/';

/** True when the file is missing, empty, or starts as a payload log: appending to it or replacing it loses nothing of anyone else's. */
async function holdsOnlyPayloadLog(file: string): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  try {
    const head = Buffer.alloc(EVENT_PREFIX.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === 0 || head.toString('utf8', 0, bytesRead) === EVENT_PREFIX;
  } finally {
    await handle.close();
  }
}

/**
 * JSON lines appended to a file; past maxBytes the file is renamed to `<file>.1` (replacing the
 * previous one) and a new one begun. A file that is not a payload log (the path names someone
 * else's file) is neither appended to nor replaced: its events are dropped (sink errors).
 */
export class FileSink implements PayloadSink {
  private handle: FileHandle | null = null;
  private size = 0;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
  ) {}

  async write(event: string): Promise<void> {
    const line = `${event}\n`;
    if (this.handle && this.size + Buffer.byteLength(line) > this.maxBytes && this.size > 0) {
      await this.handle.close();
      this.handle = null;
      const rotated = `${this.file}.1`;
      if (!(await holdsOnlyPayloadLog(rotated))) throw new Error(`${rotated} is not a payload log bnserve wrote; it is left as it is`);
      await rename(this.file, rotated);
    }
    if (!this.handle) {
      if (!(await holdsOnlyPayloadLog(this.file)))
        throw new Error(`${this.file} is not a payload log bnserve wrote; nothing is appended to it`);
      this.handle = await open(this.file, 'a');
      this.size = (await stat(this.file)).size;
    }
    await this.handle.appendFile(line);
    this.size += Buffer.byteLength(line);
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = null;
  }
}

/** One POST per event (CloudEvents structured mode), given up after timeoutMs. */
export class HttpSink implements PayloadSink {
  constructor(
    private readonly url: string,
    private readonly timeoutMs = 5000,
  ) {}

  async write(event: string): Promise<void> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/cloudevents+json' },
      body: event,
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    await response.body?.cancel();
    if (!response.ok) throw new Error(`payload log endpoint answered ${response.status}`);
  }

  async close(): Promise<void> {}
}

export interface PayloadLogCounters {
  written(): void;
  dropped(reason: 'queue_full' | 'sink_error'): void;
}

export class PayloadLogger {
  /** Exchanges waiting to be written: serialised by the writer, off the request path. */
  private readonly queue: Array<{ exchange: Exchange; at: Date }> = [];
  private writing: Promise<void> | null = null;
  private readonly source = `bnserve/${hostname()}`;

  constructor(
    private readonly options: PayloadLogOptions,
    private readonly sink: PayloadSink,
    private readonly counters: PayloadLogCounters,
    private readonly random: () => number = Math.random,
  ) {}

  /** Whether this exchange is to be logged: its model is listed and the sample draws it. */
  wants(model: string): boolean {
    const { models, sample } = this.options;
    return (models === null || models.includes(model)) && this.random() < sample;
  }

  /** Queues the exchange; never waits, never throws. A full queue drops it (counted). */
  record(exchange: Exchange): void {
    if (this.queue.length >= this.options.queueSize) {
      this.counters.dropped('queue_full');
      return;
    }
    this.queue.push({ exchange: { ...exchange, requestId: exchange.requestId || randomUUID() }, at: new Date() });
    this.writing ??= this.drain().finally(() => {
      this.writing = null;
    });
  }

  private async drain(): Promise<void> {
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      try {
        for (const event of cloudEvents(next.exchange, this.source, next.at)) await this.sink.write(event);
        this.counters.written();
      } catch {
        this.counters.dropped('sink_error');
      }
    }
  }

  /** Writes what is queued (at most timeoutMs), then closes the sink. */
  async close(timeoutMs = 5000): Promise<void> {
    if (this.writing) await Promise.race([this.writing, new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await this.sink.close().catch(() => {});
  }
}

export function payloadSink(options: PayloadLogOptions): PayloadSink {
  return /^https?:\/\//.test(options.target) ? new HttpSink(options.target) : new FileSink(options.target, options.maxFileBytes);
}
