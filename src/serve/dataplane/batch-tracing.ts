// The scheduler's part of a request's trace: its queue wait, then the batch that served it, with the
// onnxruntime run inside. A run serves several requests, so each request's trace gets its own copy
// of the batch and run spans (same times, bnserve.batch.size and .requests saying it was shared):
// one request's trace is then complete in Jaeger or Tempo, whatever it was batched with.
import { type Context, context, type Span, trace } from '@opentelemetry/api';
import { ATTR, failSpan, SPAN, spanTime, tracer } from '../../tracing/spans.ts';

/** A queued request's place in its trace. */
export interface QueuedTrace {
  parent: Context;
  wait: Span;
}

/** The queue wait of a request submitted under a recording span; null otherwise (tracing off, unsampled, warm-up runs). */
export function startQueueWait(rows: number, at: number): QueuedTrace | null {
  const parent = context.active();
  if (!trace.getSpan(parent)?.isRecording()) return null;
  return { parent, wait: tracer().startSpan(SPAN.queueWait, { startTime: spanTime(at), attributes: { [ATTR.rows]: rows } }, parent) };
}

/** A request that left the queue without a run (queue timeout, version unloaded). */
export function failQueueWait(queued: QueuedTrace | null, err: unknown): void {
  if (queued) failSpan(queued.wait, err);
}

/** performance.now() marks of one run; inferStart/inferEnd unset when it failed before or inside onnxruntime. */
export interface RunMarks {
  start: number;
  inferStart?: number;
  inferEnd?: number;
  end: number;
}

/** Ends each request's queue wait at the batch's start and adds the batch and run spans under its request. */
export function traceBatch(queued: readonly (QueuedTrace | null)[], marks: RunMarks, rows: number, error?: unknown): void {
  const attributes = { [ATTR.batchSize]: rows, [ATTR.batchRequests]: queued.length };
  for (const q of queued) {
    if (!q) continue;
    q.wait.end(spanTime(marks.start));
    const batch = tracer().startSpan(SPAN.batch, { startTime: spanTime(marks.start), attributes }, q.parent);
    if (marks.inferStart !== undefined) {
      const run = tracer().startSpan(
        SPAN.run,
        { startTime: spanTime(marks.inferStart), attributes: { [ATTR.batchSize]: rows } },
        trace.setSpan(q.parent, batch),
      );
      if (marks.inferEnd === undefined) failSpan(run, error, marks.end);
      else run.end(spanTime(marks.inferEnd));
    }
    if (error !== undefined) failSpan(batch, error, marks.end);
    else batch.end(spanTime(marks.end));
  }
}
