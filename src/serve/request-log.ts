// One log line per request (Fastify's default writes two: "incoming request" and "request
// completed"), and a stdout writer that hands pino's lines to the OS once per event-loop turn
// rather than once per line.
import { writeSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { readSettings } from '../settings.ts';

/**
 * A pino destination: lines are joined and written once per turn of the event loop (one write
 * system call for every line logged while serving that turn's requests). Whatever is still
 * buffered when the process exits is written synchronously.
 */
export class TurnBufferedStdout {
  private pending: string[] = [];
  private scheduled = false;
  private readonly onExit = () => this.flushSync();

  constructor(private readonly fd = 1) {
    process.on('exit', this.onExit);
  }

  write(line: string): boolean {
    this.pending.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flushSync());
    }
    return true;
  }

  flushSync(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    try {
      writeSync(this.fd, text);
    } catch {
      // stdout closed (EPIPE): nothing sensible left to do with log lines.
    }
  }
}

/**
 * Logger options for a serving process: level from BNSERVE_LOG_LEVEL (info), buffered stdout. No
 * pid/hostname on every line (pino's default `base`): they never change within a process, and a
 * log collector records where a line came from.
 */
export function serveLoggerOptions(
  level: string = readSettings(['BNSERVE_LOG_LEVEL']).BNSERVE_LOG_LEVEL,
  stream: { write(line: string): unknown } = new TurnBufferedStdout(),
): object {
  return { level, base: null, stream };
}

/**
 * The request log: one line when the response is sent, with what an operator greps for:
 * {"level":30,"time":<ms since epoch>,"reqId":…,"method":…,"url":…,"status":…,"ms":…,"model":…,"version":…,"msg":"request"}
 * (model and version only when a model answered). Needs Fastify's own request logging off
 * (disableRequestLogging).
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
      },
      'request',
    );
    done();
  });
}
