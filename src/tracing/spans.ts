// The spans bnserve starts, through @opentelemetry/api only (no SDK): with tracing off they are the
// API's no-ops. Names and attributes are documented in docs/tracing.md.
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  TraceFlags,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { BNSERVE_VERSION } from '../lib/version.ts';

export const SPAN = {
  queueWait: 'bnserve.queue_wait',
  batch: 'bnserve.batch',
  run: 'onnxruntime.run',
  encode: 'bnserve.encode_response',
  training: 'bnserve.train',
  epoch: 'bnserve.epoch',
} as const;

export const ATTR = {
  /** `http` or `grpc`. */
  protocol: 'bnserve.protocol',
  model: 'bnserve.model.name',
  version: 'bnserve.model.version',
  /** Rows of this request (the first dimension of its first input). */
  rows: 'bnserve.rows',
  /** Rows in the onnxruntime run that served the request: its own and those of the requests batched with it. */
  batchSize: 'bnserve.batch.size',
  /** Requests merged into that run. */
  batchRequests: 'bnserve.batch.requests',
} as const;

let anchor = performance.timeOrigin;

/**
 * A span time (epoch milliseconds) for a performance.now() mark. Every bnserve span takes its times
 * from here, on one anchor, so that times within a trace nest exactly (the SDK anchors each span on
 * Date.now(), to the millisecond) and the spans of a batch have the same times in every trace. The
 * anchor follows the wall clock when it moves away by more than 5 ms (NTP, a suspended host).
 */
export function spanTime(mark: number = performance.now()): number {
  const now = performance.now();
  const wall = Date.now();
  if (Math.abs(wall - (now + anchor)) > 5) anchor = wall - now;
  return mark + anchor;
}

let cached: Tracer | null = null;

/** bnserve's tracer (the provider registered when tracing started, else the API's no-op). */
export const tracer = (): Tracer => (cached ??= trace.getTracer('bnserve', BNSERVE_VERSION));

/** Called when tracing starts or stops: a tracer taken before keeps using the provider it found. */
export const forgetTracer = (): void => {
  cached = null;
};

const SERVER_TRACE = createContextKey('bnserve server trace');

/** Ends a span as failed: the error as an exception event and the span's status. */
export function failSpan(span: Span, err: unknown, endMark?: number): void {
  const message = err instanceof Error ? err.message : String(err);
  span.recordException(err instanceof Error ? err : message);
  span.setStatus({ code: SpanStatusCode.ERROR, message });
  span.end(spanTime(endMark));
}

/** One request's server span (REST request, gRPC call, one request of a stream), and its response encoding. */
export class ServerTrace {
  private encoding: Span | null = null;
  private errorMessage: string | undefined;
  /** The request's context: its span active, and this object, for the spans started under it. */
  readonly context: Context;

  constructor(
    readonly span: Span,
    parent: Context,
  ) {
    this.context = trace.setSpan(parent, span).setValue(SERVER_TRACE, this);
  }

  /** Runs fn with the request's span active: every span fn starts, at once or after an await, is its child. */
  run<T>(fn: () => T): T {
    return context.with(this.context, fn);
  }

  served(model: string, version: number): void {
    this.span.setAttributes({ [ATTR.model]: model, [ATTR.version]: version });
  }

  /** From the outputs in hand to the bytes of the response; once per request (later calls keep the first start). */
  startEncoding(): void {
    if (this.encoding === null && this.span.isRecording())
      this.encoding = tracer().startSpan(SPAN.encode, { startTime: spanTime() }, this.context);
  }

  endEncoding(): void {
    this.encoding?.end(spanTime());
    this.encoding = null;
  }

  /** Rows of the request (the first dimension of its first input). */
  rows(rows: number | undefined): void {
    if (rows !== undefined) this.span.setAttribute(ATTR.rows, rows);
  }

  /** The error the request failed with, as an exception event (its message becomes the status message if the request ends failed). */
  recordError(error: unknown): void {
    this.errorMessage = error instanceof Error ? error.message : String(error);
    this.span.recordException(error instanceof Error ? error : this.errorMessage);
  }

  /**
   * Ends the request span. `failed` sets its status to ERROR: the server's fault or unavailability
   * (HTTP 5xx, gRPC UNAVAILABLE, INTERNAL, …), as OpenTelemetry's conventions have it; a client's
   * mistake (4xx) keeps the status unset, its error recorded as an event.
   */
  end(attributes: Attributes, failed: boolean): void {
    this.endEncoding();
    this.span.setAttributes(attributes);
    if (failed) this.span.setStatus({ code: SpanStatusCode.ERROR, message: this.errorMessage });
    this.span.end(spanTime());
  }
}

/** Starts a server span that continues the caller's W3C `traceparent` (and `tracestate`) when the carrier has one. */
export function startServerTrace<C>(name: string, carrier: C, getter: TextMapGetter<C>, attributes: Attributes): ServerTrace {
  const parent = propagation.extract(ROOT_CONTEXT, carrier, getter);
  return new ServerTrace(tracer().startSpan(name, { kind: SpanKind.SERVER, attributes, startTime: spanTime() }, parent), parent);
}

/** The server trace of the request being handled, if tracing is on and one was started. */
export const activeServerTrace = (): ServerTrace | undefined => context.active().getValue(SERVER_TRACE) as ServerTrace | undefined;

/** trace_id and span_id for a log line, when the span is sampled (exported); nothing otherwise. */
export function traceLogFields(span: Span | undefined): { trace_id?: string; span_id?: string } {
  if (!span) return {};
  const { traceId, spanId, traceFlags } = span.spanContext();
  return traceFlags & TraceFlags.SAMPLED ? { trace_id: traceId, span_id: spanId } : {};
}

/** Runs fn under a new active span, ended when fn settles (failed: the error is recorded). */
export async function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => Promise<T>): Promise<T> {
  return tracer().startActiveSpan(name, { attributes, startTime: spanTime() }, async (span) => {
    try {
      const result = await fn(span);
      span.end(spanTime());
      return result;
    } catch (err) {
      failSpan(span, err);
      throw err;
    }
  });
}
