// ModelStreamInfer (Triton's streaming): ModelInfer requests over one bidirectional call. Every
// request gets one answer, in request order: its ModelInferResponse, or error_message with the
// request's model, version and id (the stream stays open). Requests take the unary path (the same
// checks, scheduler and batching, statistics, and metrics with route .../ModelStreamInfer), several
// at once up to the stream's limits: past them the server stops reading the stream, so HTTP/2 flow
// control holds the client, until answers have been written. A message still arriving is under the
// incomplete-request guard like any call's (incomplete-requests.ts: request timeout and budget).
import { type ServerDuplexStream, type ServiceDefinition, status } from '@grpc/grpc-js';
import type { ServeConfig } from '../config.ts';
import type { DataPlane } from '../dataplane/data-plane.ts';
import type { ModelInferRequest, ModelInferResponse, ModelStreamInferResponse } from './messages.ts';
import { type CallRecord, observeCall } from './observe.ts';

export interface StreamLimits {
  /** Requests read and not yet answered (the answer written to the connection). */
  maxInFlight: number;
  /** Their wire bytes; past it, reading waits (a single request is always taken, up to the message limit). */
  maxInFlightBytes: number;
}

/** Enough requests in flight for the batcher to merge a pipelining client's requests. */
export const STREAM_MAX_IN_FLIGHT = 16;

/**
 * A stream holds at most what one unary call may (BNSERVE_BODY_LIMIT_BYTES of requests) plus the
 * request that crossed it, so a connection's streams hold about what its unary calls could.
 */
export function defaultStreamLimits(config: Pick<ServeConfig, 'limits'>): StreamLimits {
  return { maxInFlight: STREAM_MAX_IN_FLIGHT, maxInFlightBytes: config.limits.bodyLimit };
}

/** The wire size of each stream request, noted by its deserializer. */
const wireBytes = new WeakMap<object, number>();

/** The service with ModelStreamInfer's request sizes noted as they are decoded (for maxInFlightBytes). */
export function withMeasuredStreamRequests(service: ServiceDefinition): ServiceDefinition {
  const method = service.ModelStreamInfer;
  if (!method) return service;
  const deserialize = method.requestDeserialize;
  return {
    ...service,
    ModelStreamInfer: {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        const message = deserialize(bytes);
        if (typeof message === 'object' && message !== null) wireBytes.set(message, bytes.length);
        return message;
      },
    },
  };
}

/** The streams open now: on shutdown each stops reading, answers what it has read, and ends UNAVAILABLE. */
export class OpenStreams {
  private readonly open = new Set<() => void>();

  get size(): number {
    return this.open.size;
  }

  add(close: () => void): void {
    this.open.add(close);
  }

  delete(close: () => void): void {
    this.open.delete(close);
  }

  closeAll(): void {
    for (const close of [...this.open]) close();
  }
}

const SHUTTING_DOWN = 'the server is shutting down: requests read before it began were answered; send the rest to another replica';

type Infer = (request: ModelInferRequest, record: CallRecord) => Promise<ModelInferResponse>;

interface Answer {
  response: ModelStreamInferResponse | null;
  bytes: number;
}

/**
 * grpc-js hands requests over through an object-mode Readable, which reads up to 16 messages ahead
 * of its consumer: with one, a paused stream holds at most one decoded request beyond those in
 * flight (the rest stays in HTTP/2 flow control). Node's own field (stable since node 0.10); should
 * it move, reading ahead is 16 messages again, still bounded.
 */
function limitReadAhead(call: object): void {
  const state = (call as { _readableState?: { highWaterMark?: unknown } })._readableState;
  if (state && typeof state.highWaterMark === 'number') state.highWaterMark = 1;
}

/** The bidirectional streaming handler. */
export function modelStreamInfer(plane: DataPlane, streams: OpenStreams, limits: StreamLimits, infer: Infer) {
  return (call: ServerDuplexStream<ModelInferRequest, ModelStreamInferResponse>): void => {
    limitReadAhead(call);
    /** Requests read, in order; each gets its response when its inference settles. */
    const answers: Answer[] = [];
    let inFlight = 0;
    let inFlightBytes = 0;
    let reading = true;
    let halfClosed = false;
    let closing = false;
    let done = false;

    const flow = () => {
      if (done) return;
      const room = !closing && inFlight < limits.maxInFlight && inFlightBytes < limits.maxInFlightBytes;
      if (room && !reading) {
        reading = true;
        call.resume();
      } else if (!room && reading) {
        reading = false;
        call.pause();
      }
    };
    const stop = () => {
      done = true;
      streams.delete(close);
    };
    const maybeEnd = () => {
      if (done || inFlight > 0) return;
      if (closing) {
        stop();
        // The Duplex's own error listener turns this into the call's status.
        call.emit('error', { code: status.UNAVAILABLE, details: SHUTTING_DOWN });
      } else if (halfClosed) {
        stop();
        call.end();
      }
    };
    const flush = () => {
      while (answers.length > 0 && answers[0].response !== null) {
        const { response, bytes } = answers.shift()!;
        if (done || call.destroyed) return;
        call.write(response!, () => {
          inFlight--;
          inFlightBytes -= bytes;
          flow();
          maybeEnd();
        });
      }
    };
    const close = () => {
      closing = true;
      flow();
      maybeEnd();
    };
    streams.add(close);

    call.on('data', (request: ModelInferRequest) => {
      if (done || closing) return;
      const answer: Answer = { response: null, bytes: wireBytes.get(request) ?? 0 };
      answers.push(answer);
      inFlight++;
      inFlightBytes += answer.bytes;
      flow();
      const observed = observeCall(plane, 'ModelStreamInfer', call.metadata);
      const settled = (response: ModelStreamInferResponse) => {
        answer.response = response;
        flush();
      };
      const run = () => infer(request, observed.record);
      Promise.resolve()
        .then(() => (observed.trace ? observed.trace.run(run) : run()))
        .then(
          (response) => {
            // The trace's response encoding ends after settled: a response written at once is serialised by then.
            settled({ error_message: '', infer_response: response });
            observed.succeeded();
          },
          (err: unknown) => {
            const { details } = observed.failed(err);
            const served = observed.record.served;
            settled({
              error_message: details,
              infer_response: {
                model_name: served?.model ?? request.model_name,
                model_version: served ? String(served.version) : request.model_version,
                id: request.id,
              },
            });
          },
        );
    });
    call.on('end', () => {
      halfClosed = true;
      maybeEnd();
    });
    call.on('cancelled', stop);
    call.on('close', stop);
  };
}
