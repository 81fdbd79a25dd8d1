// What a gRPC request may hold while it is still arriving: the gRPC twin of the HTTP side's request
// timeout, plus one server-wide budget for the memory pinned by requests that have not fully arrived.
//
// grpc-js reads a call's DATA frames as they come and keeps them until the message's last byte (a
// unary call's until END_STREAM), with no timeout: a client that declares 4 MB, sends 3.9 MB and
// stops holds that memory for as long as it keeps the stream open, and max_concurrent_streams only
// caps it per connection. No grpc-js option bounds it and interceptors only see whole messages, so
// this interceptor watches the call's HTTP/2 stream itself (the one grpc-js field it reaches into,
// see http2StreamOf), follows gRPC's framing, and answers a call that runs out of time or budget
// with a status, then resets the stream (RST_STREAM NO_ERROR: "stop sending"), which frees what
// grpc-js had buffered.
import http2 from 'node:http2';
import {
  ServerInterceptingCall,
  type ServerInterceptingCallInterface,
  type ServerInterceptor,
  type StatusObject,
  status,
} from '@grpc/grpc-js';
import { MessageFraming } from './message-framing.ts';

/**
 * Memory pinned, server-wide, by requests still arriving. Node hands out each DATA frame as a slice
 * of the socket read it came in (64 KiB, shared by the frames of several streams), and grpc-js
 * keeps the slices, so what a stalled request pins is those whole reads: they are counted once
 * each, however many calls hold slices of them. Counting the slices' bytes instead would let a
 * client pin 64 KiB for every byte it is charged.
 */
export class IncompleteRequestBudget {
  private held = 0;
  private readonly holders = new Map<ArrayBufferLike, number>();

  constructor(readonly limitBytes: number) {}

  get heldBytes(): number {
    return this.held;
  }

  /** One more holder of `memory`; false, and nothing pinned, when pinning it would pass the limit. */
  pin(memory: ArrayBufferLike): boolean {
    const holders = this.holders.get(memory) ?? 0;
    if (holders === 0) {
      if (this.held + memory.byteLength > this.limitBytes) return false;
      this.held += memory.byteLength;
    }
    this.holders.set(memory, holders + 1);
    return true;
  }

  unpin(memory: ArrayBufferLike): void {
    const holders = (this.holders.get(memory) ?? 0) - 1;
    if (holders > 0) {
      this.holders.set(memory, holders);
    } else if (holders === 0) {
      this.holders.delete(memory);
      this.held -= memory.byteLength;
    }
  }
}

export interface IncompleteRequestLimits {
  /** BNSERVE_REQUEST_TIMEOUT_MS: how long a call's request may take to arrive. */
  timeoutMs: number;
  budget: IncompleteRequestBudget;
}

/** The parts of the call's HTTP/2 stream that the guard uses (an EventEmitter in tests). */
export type GuardedStream = Pick<http2.ServerHttp2Stream, 'prependListener' | 'once' | 'on' | 'close'>;

/**
 * grpc-js hands the first interceptor its BaseServerInterceptingCall, whose `stream` field is the
 * call's ServerHttp2Stream (1.10 to 1.14 at least; grpc-js is pinned). Should an upgrade move it,
 * calls go unguarded rather than fail, and test/serve/grpc-limits.test.ts fails.
 */
function http2StreamOf(call: ServerInterceptingCallInterface): GuardedStream | null {
  const stream = (call as unknown as { stream?: Partial<GuardedStream> }).stream;
  return typeof stream?.prependListener === 'function' && typeof stream.close === 'function' ? (stream as GuardedStream) : null;
}

/** The interceptor for the Server's `interceptors` option. */
export function incompleteRequestGuard(limits: IncompleteRequestLimits): ServerInterceptor {
  return (method, call) => {
    const stream = http2StreamOf(call);
    if (stream) guardRequest(stream, (answer) => call.sendStatus(answer), method.requestStream, limits);
    return new ServerInterceptingCall(call);
  };
}

/**
 * A call with one request message (unary, server streaming) must have sent all of it, END_STREAM
 * included, within timeoutMs of its start, and its data counts against the budget until then,
 * unless the message came whole in the call's first DATA frame: small calls are never refused for
 * want of budget, so they are still answered while large stalled uploads fill it. A call that
 * streams requests is charged for the message in progress only, which must arrive within timeoutMs
 * of its first byte (timed while grpc-js reads: a paused stream waits on the server).
 */
export function guardRequest(
  stream: GuardedStream,
  sendStatus: (answer: Pick<StatusObject, 'code' | 'details'>) => void,
  requestStream: boolean,
  { timeoutMs, budget }: IncompleteRequestLimits,
): void {
  const framing = new MessageFraming();
  const pinned = new Set<ArrayBufferLike>();
  let chunks = 0;
  let flowing = true;
  let done = false;
  let timer: NodeJS.Timeout | undefined;

  const unpinAll = () => {
    for (const memory of pinned) budget.unpin(memory);
    pinned.clear();
  };
  const pin = (memory: ArrayBufferLike) => {
    if (pinned.has(memory)) return true;
    if (!budget.pin(memory)) return false;
    pinned.add(memory);
    return true;
  };
  const stopTimer = () => {
    clearTimeout(timer);
    timer = undefined;
  };
  const finish = () => {
    done = true;
    stopTimer();
    unpinAll();
  };
  const refuse = (code: status, details: string) => {
    finish();
    sendStatus({ code, details });
    stream.close(http2.constants.NGHTTP2_NO_ERROR);
  };
  const startTimer = () => {
    timer ??= setTimeout(
      () => refuse(status.DEADLINE_EXCEEDED, `the request did not arrive within ${timeoutMs} ms (BNSERVE_REQUEST_TIMEOUT_MS)`),
      timeoutMs,
    );
  };
  const timeStreamedMessage = () => (flowing && framing.partialBytes > 0 ? startTimer() : stopTimer());

  if (!requestStream) startTimer();
  // Before grpc-js's own listener, so that a chunk past the budget is never buffered.
  stream.prependListener('data', (chunk: Buffer) => {
    if (done) return;
    chunks++;
    const completed = framing.push(chunk);
    // A streamed message that is whole goes to its handler: it no longer counts.
    if (requestStream && completed > 0) unpinAll();
    const wholeInFirstChunk = chunks === 1 && completed > 0 && framing.partialBytes === 0;
    const charged = requestStream ? framing.partialBytes > 0 : !wholeInFirstChunk;
    if (charged && !pin(chunk.buffer)) {
      refuse(status.RESOURCE_EXHAUSTED, 'the server is receiving too many requests at once; retry later');
      return;
    }
    if (requestStream) timeStreamedMessage();
  });
  if (requestStream) {
    stream.on('pause', () => {
      flowing = false;
      timeStreamedMessage();
    });
    stream.on('resume', () => {
      flowing = true;
      timeStreamedMessage();
    });
  }
  // END_STREAM: the request is whole and with its handler.
  stream.once('end', finish);
  stream.once('close', finish);
}
