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

/**
 * Logger options for a serving process: level from BNSERVE_LOG_LEVEL (info), buffered stdout. No
 * pid/hostname on every line (pino's default `base`): they never change within a process, and a
 * log collector records where a line came from.
 */
export function serveLoggerOptions(
  level: string = readSettings(['BNSERVE_LOG_LEVEL']).BNSERVE_LOG_LEVEL,
  stream: { write(line: string): unknown } = new BufferedStdout(),
): object {
  return { level, base: null, stream };
}

/**
 * The request log: one line when the response is sent, with what an operator greps for:
 * {"level":30,"time":<ms since epoch>,"reqId":…,"method":…,"url":…,"status":…,"ms":…,"model":…,"version":…,"trace_id":…,"span_id":…,"msg":"request"}
 * (model and version only when a model answered; trace_id and span_id, of the request's server
 * span, only when tracing recorded it). Needs Fastify's own request logging off (disableRequestLogging).
 */
export function addRequestLog(app: FastifyInstance): void {
  app.addHook('onResponse', (request, reply, done) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 100) / 100,
        ...(request.served ? { model: request.served.model, version: request.served.version } : {}),
        ...(request.trace ? traceLogFields(request.trace.span) : {}),
      },
      'request',
    );
    done();
  });
}
