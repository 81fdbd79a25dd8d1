// gRPC's length-prefixed message framing (1 flag byte, 4-byte big-endian length, payload), followed
// over the DATA chunks of one call only to know how much of a message has arrived; grpc-js decodes.

const PREFIX_BYTES = 5;

export class MessageFraming {
  /** Bytes of the message whose last byte has not arrived yet (prefix included); 0 between messages. */
  partialBytes = 0;
  private readonly prefix = Buffer.alloc(PREFIX_BYTES);
  private prefixFilled = 0;
  private payloadLeft = 0;

  /** Follows one more chunk; returns how many messages it completed. */
  push(chunk: Uint8Array): number {
    let completed = 0;
    let at = 0;
    while (at < chunk.length) {
      let taken: number;
      if (this.prefixFilled < PREFIX_BYTES) {
        taken = Math.min(PREFIX_BYTES - this.prefixFilled, chunk.length - at);
        this.prefix.set(chunk.subarray(at, at + taken), this.prefixFilled);
        this.prefixFilled += taken;
        if (this.prefixFilled === PREFIX_BYTES) this.payloadLeft = this.prefix.readUInt32BE(1);
      } else {
        taken = Math.min(this.payloadLeft, chunk.length - at);
        this.payloadLeft -= taken;
      }
      at += taken;
      this.partialBytes += taken;
      if (this.prefixFilled === PREFIX_BYTES && this.payloadLeft === 0) {
        this.prefixFilled = 0;
        this.partialBytes = 0;
        completed++;
      }
    }
    return completed;
  }
}
