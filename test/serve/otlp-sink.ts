// A collector's OTLP/HTTP traces endpoint in the test process: it answers each POST /v1/traces as a
// collector does and decodes what the exporters really sent (http/json, or http/protobuf with a small
// wire-format reader of the OTLP trace messages), so that tests check spans as Jaeger would get them.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ExportedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  kind: number;
  attributes: Record<string, string | number | boolean>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
  startNs: bigint;
  endNs: bigint;
  /** service.name of the resource that sent it. */
  service: string;
}

export interface OtlpSink {
  /** The base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT). */
  endpoint: string;
  spans: ExportedSpan[];
  /** Content types of the export requests received. */
  contentTypes: string[];
  close(): Promise<void>;
}

export async function startOtlpSink(): Promise<OtlpSink> {
  const spans: ExportedSpan[] = [];
  const contentTypes: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const type = String(req.headers['content-type'] ?? '');
      contentTypes.push(type);
      const body = Buffer.concat(chunks);
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      spans.push(...(type.includes('json') ? decodeJson(body) : decodeProtobuf(body)));
      res
        .writeHead(200, { 'content-type': type.includes('json') ? 'application/json' : 'application/x-protobuf' })
        .end(type.includes('json') ? '{}' : '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    contentTypes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type JsonValue = { stringValue?: string; intValue?: string | number; doubleValue?: number; boolValue?: boolean };

function jsonAttributes(list: { key: string; value: JsonValue }[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const { key, value } of list ?? []) {
    if (value.stringValue !== undefined) out[key] = value.stringValue;
    else if (value.intValue !== undefined) out[key] = Number(value.intValue);
    else if (value.doubleValue !== undefined) out[key] = value.doubleValue;
    else if (value.boolValue !== undefined) out[key] = value.boolValue;
  }
  return out;
}

function decodeJson(body: Buffer): ExportedSpan[] {
  const request = JSON.parse(body.toString('utf8'));
  return request.resourceSpans.flatMap((rs: any) => {
    const service = String(jsonAttributes(rs.resource?.attributes)['service.name'] ?? '');
    return rs.scopeSpans.flatMap((ss: any) =>
      ss.spans.map(
        (s: any): ExportedSpan => ({
          traceId: s.traceId,
          spanId: s.spanId,
          parentSpanId: s.parentSpanId ?? '',
          name: s.name,
          kind: s.kind,
          attributes: jsonAttributes(s.attributes),
          statusCode: s.status?.code ?? 0,
          statusMessage: s.status?.message ?? '',
          startNs: BigInt(s.startTimeUnixNano),
          endNs: BigInt(s.endTimeUnixNano),
          service,
        }),
      ),
    );
  });
}

/** Protobuf fields of one message: field number → values (varint/fixed64 as bigint, length-delimited as bytes). */
function fields(buf: Buffer): Map<number, (bigint | Buffer)[]> {
  const out = new Map<number, (bigint | Buffer)[]>();
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const byte = buf[pos++];
      result |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const field = key >> 3;
    let value: bigint | Buffer;
    switch (key & 7) {
      case 0:
        value = varint();
        break;
      case 1:
        value = buf.readBigUInt64LE(pos);
        pos += 8;
        break;
      case 2: {
        const length = Number(varint());
        value = buf.subarray(pos, pos + length);
        pos += length;
        break;
      }
      case 5:
        value = BigInt(buf.readUInt32LE(pos));
        pos += 4;
        break;
      default:
        throw new Error(`unexpected wire type ${key & 7}`);
    }
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}

const bytes = (m: Map<number, (bigint | Buffer)[]>, f: number) => (m.get(f)?.[0] as Buffer | undefined) ?? Buffer.alloc(0);
const num = (m: Map<number, (bigint | Buffer)[]>, f: number) => (m.get(f)?.[0] as bigint | undefined) ?? 0n;
const messages = (m: Map<number, (bigint | Buffer)[]>, f: number) => ((m.get(f) ?? []) as Buffer[]).map(fields);

/** KeyValue { key = 1; AnyValue value = 2 { string 1, bool 2, int 3, double 4 } }. */
function protobufAttributes(list: Map<number, (bigint | Buffer)[]>[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of list) {
    const key = bytes(kv, 1).toString('utf8');
    const value = fields(bytes(kv, 2));
    if (value.has(1)) out[key] = bytes(value, 1).toString('utf8');
    else if (value.has(2)) out[key] = num(value, 2) !== 0n;
    else if (value.has(3)) out[key] = Number(BigInt.asIntN(64, num(value, 3)));
    else if (value.has(4)) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(num(value, 4));
      out[key] = b.readDoubleLE(0);
    }
  }
  return out;
}

/** ExportTraceServiceRequest → ResourceSpans (1) → ScopeSpans (2) → Span (2), as opentelemetry-proto's trace.proto numbers them. */
function decodeProtobuf(body: Buffer): ExportedSpan[] {
  return messages(fields(body), 1).flatMap((rs) => {
    const resource = messages(rs, 1)[0];
    const service = String(resource ? (protobufAttributes(messages(resource, 1))['service.name'] ?? '') : '');
    return messages(rs, 2).flatMap((ss) =>
      messages(ss, 2).map((s): ExportedSpan => {
        const status = messages(s, 15)[0];
        return {
          traceId: bytes(s, 1).toString('hex'),
          spanId: bytes(s, 2).toString('hex'),
          parentSpanId: bytes(s, 4).toString('hex'),
          name: bytes(s, 5).toString('utf8'),
          kind: Number(num(s, 6)),
          attributes: protobufAttributes(messages(s, 9)),
          statusCode: status ? Number(num(status, 3)) : 0,
          statusMessage: status ? bytes(status, 2).toString('utf8') : '',
          startNs: num(s, 7),
          endNs: num(s, 8),
          service,
        };
      }),
    );
  });
}
