// A model's metadata_props without decoding its graph: the protobuf wire format of ModelProto read
// field by field, the graph's bytes (field 7, most of the file) skipped, not copied. For the server,
// which needs a few keys of a model that may be hundreds of megabytes.

const METADATA_PROPS = 14;

class WireReader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    private readonly end = bytes.length,
  ) {}

  get done(): boolean {
    return this.pos >= this.end;
  }

  varint(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (this.pos >= this.end) throw new RangeError('truncated varint');
      const b = this.bytes[this.pos++];
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new RangeError('varint too long');
    }
  }

  /** The bytes of a length-delimited field, as a view. */
  chunk(): Uint8Array {
    const length = this.varint();
    if (this.pos + length > this.end) throw new RangeError('truncated field');
    const view = this.bytes.subarray(this.pos, this.pos + length);
    this.pos += length;
    return view;
  }

  skip(wireType: number): void {
    if (wireType === 0) this.varint();
    else if (wireType === 1) this.pos += 8;
    else if (wireType === 2) this.chunk();
    else if (wireType === 5) this.pos += 4;
    else throw new RangeError(`unsupported wire type ${wireType}`);
  }
}

const text = new TextDecoder();

/** metadata_props of an ONNX model as a record; throws RangeError on bytes that are not protobuf. */
export function scanMetadata(model: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const reader = new WireReader(model);
  while (!reader.done) {
    const tag = reader.varint();
    if (tag >>> 3 !== METADATA_PROPS || (tag & 7) !== 2) {
      reader.skip(tag & 7);
      continue;
    }
    const entry = new WireReader(reader.chunk());
    let key = '';
    let value = '';
    while (!entry.done) {
      const t = entry.varint();
      if (t === (1 << 3) + 2) key = text.decode(entry.chunk());
      else if (t === (2 << 3) + 2) value = text.decode(entry.chunk());
      else entry.skip(t & 7);
    }
    out[key] = value;
  }
  return out;
}
