// One log line per request (Fastify's default writes two: "incoming request" and "request
// completed"), and a stdout writer that hands pino's lines to the OS in blocks rather than once
// per line.
import { writeSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { traceLogFields } from '../../tracing/spans.ts';
import { readSettings } from '../../settings.ts';

/** How long a log line may wait in memory before it is written, and how much may wait. */
export const LOG_FLUSH_MS = 20;
export const LOG_FLUSH_BYTES = 16 * 1024;

/**
 * A pino destination: lines are joined and written with one system call when LOG_FLUSH_BYTES
 * have accumulated or LOG_FLUSH_MS after the first of them, whichever comes first (in the CPU
 * profile at ~17k requests/s, writing took 9.3% of the server's time once per event-loop turn,
 * 3.7% in blocks). Whatever is still buffered when the process exits, normally or on an uncaught
 * error, is written synchronously; only a process killed outright (SIGKILL) loses its last
 * LOG_FLUSH_MS of lines.
 */
export class BufferedStdout {
  private pending: string[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly onExit = () => this.flushSync();

  constructor(
    private readonly fd = 1,
    private readonly flushMs = LOG_FLUSH_MS,
    private readonly flushBytes = LOG_FLUSH_BYTES,
  ) {
    process.on('exit', this.onExit);
  }

  write(line: string): boolean {
    this.pending.push(line);
    this.bytes += line.length;
    if (this.bytes >= this.flushBytes) {
      this.flushSync();
    } else if (this.timer === null) {
      this.timer = setTimeout(() => this.flushSync(), this.flushMs);
      this.timer.unref();
    }
    return true;
  }

  flushSync(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.bytes = 0;
    try {
      writeSync(this.fd, text);
    } catch {
      // stdout closed (EPIPE): nothing sensible left to do with log lines.
    }
  }

  /** Writes what is buffered and stops listening for the process's exit. */
  close(): void {
    this.flushSync();
    process.off('exit', this.onExit);
  }
}

/** Where log lines go: pino's destination, and the request log's when it writes its own lines. */
export interface LineSink {
  write(line: string): unknown;
}

/** The stream of each options object serveLoggerOptions made (see requestLogSink). */
const sinks = new WeakMap<object, LineSink>();

/**
 * Logger options for a serving process: level from BNSERVE_LOG_LEVEL (info), buffered stdout. No
 * pid/hostname on every line (pino's default `base`): they never change within a process, and a
 * log collector records where a line came from.
 */
export function serveLoggerOptions(
  level: string = readSettings(['BNSERVE_LOG_LEVEL']).BNSERVE_LOG_LEVEL,
  stream: LineSink = new BufferedStdout(),
): object {
  const options = { level, base: null, stream };
  sinks.set(options, stream);
  return options;
}

/**
 * The stream the request log may write its lines to itself: that of logger options made by
 * serveLoggerOptions, whose lines carry no base fields, redaction or formatters that the request
 * log would have to repeat. Any other logger (options or an instance): null, and lines go through it.
 */
export function requestLogSink(logger: unknown): LineSink | null {
  return typeof logger === 'object' && logger !== null ? (sinks.get(logger) ?? null) : null;
}

/**
 * The fields of a request's log line after its reqId (the request logger's binding), in their order;
 * model and version when a model answered, trace ids when traced.
 */
export interface RequestLogFields {
  method: string;
  url: string;
  status: number;
  ms: number;
  model?: string;
  version?: number;
  trace_id?: string;
  span_id?: string;
}

const PINO_INFO = 30;
/** The levels at which an info line is written. */
const LOGS_INFO = new Set(['info', 'debug', 'trace']);

/**
 * The request's log line as pino writes it at info level with `base: null` (same keys, order and
 * values), built as one template string: pino's generic serialisation of the fields, its child
 * logger's bindings and its level dispatch were ~10 µs of a ~270 µs request in the CPU profile.
 */
export function requestLogLine(reqId: string, f: RequestLogFields, time = Date.now()): string {
  const served = f.model === undefined ? '' : `,"model":${JSON.stringify(f.model)},"version":${f.version}`;
  const traced = f.trace_id === undefined ? '' : `,"trace_id":"${f.trace_id}","span_id":"${f.span_id}"`;
  return (
    `{"level":${PINO_INFO},"time":${time},"reqId":${JSON.stringify(reqId)},"method":${JSON.stringify(f.method)},` +
    `"url":${JSON.stringify(f.url)},"status":${f.status},"ms":${f.ms}${served}${traced},"msg":"request"}\n`
  );
}

/**
 * The request log: one line when the response is sent (written straight to sink when there is one,
 * see requestLogSink; else through request.log), with what an operator greps for:
 * {"level":30,"time":<ms since epoch>,"reqId":…,"method":…,"url":…,"status":…,"ms":…,"model":…,"version":…,"trace_id":…,"span_id":…,"msg":"request"}
 * (model and version only when a model answered; trace_id and span_id, of the request's server
 * span, only when tracing recorded it). Needs Fastify's own request logging off (disableRequestLogging).
 */
export function addRequestLog(app: FastifyInstance, sink: LineSink | null): void {
  app.addHook('onResponse', (request, reply, done) => {
    const fields: RequestLogFields = {
      method: request.method,
      url: request.url,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 100) / 100,
      ...(request.served ? { model: request.served.model, version: request.served.version } : {}),
      ...(request.trace ? traceLogFields(request.trace.span) : {}),
    };
    if (sink === null) request.log.info(fields, 'request');
    else if (LOGS_INFO.has(request.log.level)) sink.write(requestLogLine(String(request.id), fields));
    done();
  });
}
