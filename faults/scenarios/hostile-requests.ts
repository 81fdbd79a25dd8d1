// Generated bad requests for both protocols (OIP v2 infer and TF-Serving :predict), deterministic
// from a seed: malformed JSON, wrong types and shapes, huge numbers, NaN strings, deep nesting,
// missing fields, wrong content types, oversized bodies, bad URLs, bad methods, unicode junk, and
// misuse of the binary-tensor header. Raw-socket cases cover input that is not valid HTTP at all.
import { createRng } from '../../src/train/rng.ts';
import type { RequestSpec } from '../harness/http.ts';

export interface HostileRequest extends RequestSpec {
  category: string;
}

type Rand = () => number;
const pick = <T>(r: Rand, items: readonly T[]): T => items[Math.floor(r() * items.length)];
const int = (r: Rand, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

const JSON_CT = { 'content-type': 'application/json' };

function routes(model: string): string[] {
  return [
    `/v2/models/${model}/infer`,
    `/v2/models/${model}/versions/1/infer`,
    `/v1/models/${model}:predict`,
    `/v1/models/${model}/versions/1:predict`,
    `/v1/models/${model}/labels/production:predict`,
  ];
}

const isV2 = (path: string) => path.startsWith('/v2/');

/** A valid body for the route, as a starting point for mutations. */
function validBody(path: string, rows = 1): Record<string, unknown> {
  const data = Array.from({ length: rows }, () => [5.1, 3.5, 1.4, 0.2]);
  return isV2(path) ? { id: 'x', inputs: [{ name: 'input', shape: [rows, 4], datatype: 'FP32', data: data.flat() }] } : { instances: data };
}

function junkValue(r: Rand): unknown {
  return pick(r, [
    'NaN',
    'Infinity',
    '-Infinity',
    'nan',
    null,
    true,
    {},
    [],
    '5.1',
    '',
    '\u0000',
    '💥',
    '\ud800',
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER * 1024,
    [[[1]]],
    { value: 1 },
  ] as const);
}

function deep(depth: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(depth)}1${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

type Maker = (r: Rand, model: string) => HostileRequest;

const makers: Record<string, Maker> = {
  'malformed json': (r, model) => {
    const path = pick(r, routes(model));
    const valid = JSON.stringify(validBody(path));
    const body = pick(r, [
      valid.slice(0, int(r, 0, valid.length - 1)),
      `${valid},`,
      valid.replaceAll('"', "'"),
      `{${valid}`,
      '{"instances": [[5.1, 3.5, 1.4, 0.2],]}',
      '{"inputs": [{"name": "input",, "shape": [1,4]}]}',
      'undefined',
      '\u00ef\u00bb\u00bf{}',
      String.fromCharCode(...Array.from({ length: int(r, 1, 64) }, () => int(r, 0, 255))),
      '{"instances": [[5.1 3.5 1.4 0.2]]}',
      '[[[[',
      '{"__proto__": {"polluted": true}, "instances": [[5.1, 3.5, 1.4, 0.2]]}',
      '{"constructor": {"prototype": {"x": 1}}}',
    ]);
    return { category: 'malformed json', method: 'POST', path, headers: JSON_CT, body };
  },
  'wrong types': (r, model) => {
    const path = pick(r, routes(model));
    let body: unknown;
    if (isV2(path)) {
      const input: Record<string, unknown> = { name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] };
      input[pick(r, ['name', 'shape', 'datatype', 'data'])] = junkValue(r);
      body = pick(r, [
        { inputs: [input] },
        { inputs: junkValue(r) },
        { inputs: [input], outputs: junkValue(r) },
        { inputs: [input], id: junkValue(r) },
      ]);
    } else {
      const row: unknown[] = [5.1, 3.5, 1.4, 0.2];
      row[int(r, 0, 3)] = junkValue(r);
      body = pick(r, [
        { instances: [row] },
        { instances: junkValue(r) },
        { instances: [junkValue(r)] },
        { instances: [{ sepal_length: junkValue(r) }] },
      ]);
    }
    return { category: 'wrong types', method: 'POST', path, headers: JSON_CT, body: JSON.stringify(body) };
  },
  'wrong shapes': (r, model) => {
    const path = pick(r, routes(model));
    const n = int(r, 0, 9);
    const rowLen = pick(r, [0, 1, 3, 5, 64]);
    const row = Array.from({ length: rowLen }, () => r() * 10);
    const body = isV2(path)
      ? {
          inputs: [
            {
              name: pick(r, ['input', 'INPUT', 'x', '']),
              shape: pick(r, [[n, 4], [1, rowLen], [-1, 4], [4], [1, 2, 2], [], [1e9, 4], [2 ** 31, 2 ** 31], [0, 4], [1.5, 4]]),
              datatype: pick(r, ['FP32', 'FP64', 'INT64', 'FP16', 'BYTES', 'BOOL', 'UINT8', 'fp32']),
              data: pick(r, [row, [row], [], [[1, 2], [3]]]),
            },
          ],
        }
      : {
          instances: pick(r, [
            [],
            [row],
            Array.from({ length: n }, () => row),
            [
              [1, 2],
              [3, 4, 5, 6],
            ],
            [[[5.1, 3.5, 1.4, 0.2]]],
          ]),
        };
    return { category: 'wrong shapes', method: 'POST', path, headers: JSON_CT, body: JSON.stringify(body) };
  },
  'huge numbers': (r, model) => {
    const path = pick(r, routes(model));
    const big = pick(r, [
      '1e309',
      '-1e309',
      '1e38',
      '3.5e38',
      '-3.5e38',
      '123456789012345678901234567890',
      '1e-400',
      '9'.repeat(400),
      `0.${'1'.repeat(400)}`,
    ]);
    const row = `[${big}, 3.5, 1.4, 0.2]`;
    const body = isV2(path)
      ? `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "${pick(r, ['FP32', 'FP64', 'INT64'])}", "data": ${row}}]}`
      : `{"instances": [${row}]}`;
    return { category: 'huge numbers', method: 'POST', path, headers: JSON_CT, body };
  },
  'nan strings': (r, model) => {
    const path = pick(r, routes(model));
    const v = pick(r, ['"NaN"', '"Infinity"', '"-Infinity"', 'NaN', 'Infinity', '"1e999"', 'null', '"0x10"']);
    const row = `[${v}, ${v}, 1.4, 0.2]`;
    const body = isV2(path)
      ? `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ${row}}]}`
      : `{"instances": [${row}]}`;
    return { category: 'nan strings', method: 'POST', path, headers: JSON_CT, body };
  },
  'deep nesting': (r, model) => {
    const path = pick(r, routes(model));
    const depth = pick(r, [64, 1000, 10_000, 100_000]);
    const inner = deep(depth, pick(r, ['array', 'object'] as const));
    const body = isV2(path)
      ? `{"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": ${inner}}]}`
      : pick(r, [`{"instances": ${inner}}`, `{"instances": [${inner}]}`, inner]);
    return { category: 'deep nesting', method: 'POST', path, headers: JSON_CT, body };
  },
  'missing fields': (r, model) => {
    const path = pick(r, routes(model));
    const body = isV2(path)
      ? pick(r, [
          '{}',
          '{"inputs": []}',
          '{"inputs": [{}]}',
          '{"inputs": [{"name": "input"}]}',
          '{"inputs": [{"name": "input", "shape": [1,4], "datatype": "FP32"}]}',
          '{"id": "x"}',
        ])
      : pick(r, [
          '{}',
          '{"instances": null}',
          '{"inputs": [[5.1,3.5,1.4,0.2]]}',
          '{"instances": [{}]}',
          '{"instances": [{"sepal_length": 5.1}]}',
          '',
        ]);
    return { category: 'missing fields', method: 'POST', path, headers: JSON_CT, body };
  },
  'wrong content type': (r, model) => {
    const path = pick(r, routes(model));
    const contentType = pick(r, [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      'application/octet-stream',
      'application/xml',
      'application/json; charset=utf-16',
      'application/jsonx',
      '*/*',
      'application/json, text/plain',
      'image/png',
    ]);
    const body = pick(r, [JSON.stringify(validBody(path)), 'a=1&b=2', '<x/>', '--xyz\r\n\r\n--xyz--']);
    return { category: 'wrong content type', method: 'POST', path, headers: { 'content-type': contentType }, body };
  },
  'too many rows': (r, model) => {
    const path = pick(r, routes(model));
    return {
      category: 'too many rows',
      method: 'POST',
      path,
      headers: JSON_CT,
      body: JSON.stringify(validBody(path, pick(r, [1025, 2000, 5000]))),
    };
  },
  'bad urls': (r, model) => {
    const path = pick(r, [
      `/v2/models/${model}/infer/../../../etc/passwd`,
      '/v2/models/%zz/infer',
      '/v2/models/%00/infer',
      `/v2/models/${'m'.repeat(300)}/infer`,
      `/v2/models/${'m'.repeat(5000)}/infer`,
      `/v1/models/${model}:predictx`,
      `/v1/models/${model}::predict`,
      `/v1/models/${model}:`,
      `/v2/models/${model}/versions/abc/infer`,
      `/v2/models/${model}/versions/-1/infer`,
      `/v2/models/${model}/versions/0/infer`,
      `/v2/models/${model}/versions/1.5/infer`,
      `/v2/models/${model}/versions/99999999999999999999999/infer`,
      `/v2/models/${model}/versions/999/infer`,
      `/v1/models/${model}/versions/NaN:predict`,
      `/v1/models/${model}/labels/%00:predict`,
      `/v1/models/${model}/labels/${'a'.repeat(200)}:predict`,
      `/v1/models/${model}/labels/nope:predict`,
      '/v2/models/no-such-model/infer',
      '/v1/models/no-such-model:predict',
      `/v2/models/${model}/infer?${'x=1&'.repeat(500)}`,
      `/v2/models/${model}//infer`,
      `//v2/models/${model}/infer`,
      '/v2/models/%F0%9F%92%A5/infer',
      `/v2/models/${encodeURIComponent('é')}/infer`,
    ]);
    return { category: 'bad urls', method: 'POST', path, headers: JSON_CT, body: JSON.stringify(validBody(path)) };
  },
  'bad methods': (r, model) => {
    const path = pick(r, routes(model));
    const method = pick(r, ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE']);
    const withBody = method !== 'GET' && method !== 'HEAD' && method !== 'TRACE';
    return withBody
      ? { category: 'bad methods', method, path, headers: JSON_CT, body: JSON.stringify(validBody(path)) }
      : { category: 'bad methods', method, path };
  },
  'unicode junk': (r, model) => {
    const path = pick(r, routes(model));
    const junk = pick(r, ['\ud800', '\udfff', '\u202e', '\ufeff', '\u0000', '𝕏', '💥'.repeat(50), 'é'.normalize('NFD'), '\uffff']);
    const body = isV2(path)
      ? JSON.stringify({ id: junk, inputs: [{ name: `input${junk}`, shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] })
      : JSON.stringify({ instances: [{ [`sepal_length${junk}`]: 5.1, sepal_width: 3.5, petal_length: 1.4, petal_width: 0.2 }] });
    const raw =
      r() < 0.3
        ? Buffer.concat([Buffer.from(body.slice(0, -2)), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from(body.slice(-2))])
        : body;
    return {
      category: 'unicode junk',
      method: 'POST',
      path,
      headers: { ...JSON_CT, 'x-request-id': r() < 0.5 ? 'ok-id' : 'x'.repeat(300) },
      body: raw,
    };
  },
  'binary header misuse': (r, model) => {
    const path = pick(r, [`/v2/models/${model}/infer`, `/v2/models/${model}/versions/1/infer`]);
    const json = JSON.stringify({
      inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: pick(r, [16, 15, 0, -1, 1e12]) } }],
    });
    const tail = Buffer.alloc(pick(r, [0, 8, 16, 17]), 0x41);
    const headerLength = pick(r, [String(json.length), String(json.length + 5), '-1', 'abc', '1e3', '0', String(2 ** 40)]);
    return {
      category: 'binary header misuse',
      method: 'POST',
      path,
      headers: {
        'content-type': pick(r, ['application/octet-stream', 'application/json']),
        'inference-header-content-length': headerLength,
      },
      body: Buffer.concat([Buffer.from(json), tail]),
    };
  },
};

/** `count` generated requests plus `oversized` bodies just over `bodyLimit` (spread through the list). */
export function hostileRequests(model: string, count: number, seed: number, bodyLimit: number, oversized: number): HostileRequest[] {
  const r = createRng(seed);
  const names = Object.keys(makers);
  const list: HostileRequest[] = [];
  for (let i = 0; i < count - oversized; i++) list.push(makers[names[i % names.length]](r, model));
  const big = Buffer.alloc(bodyLimit + 1024, 0x20);
  for (let i = 0; i < oversized; i++) {
    const path = routes(model)[i % 5];
    list.splice(Math.floor(r() * list.length), 0, { category: 'oversized body', method: 'POST', path, headers: JSON_CT, body: big });
  }
  return list;
}

/** Bytes that are not valid HTTP/1.1 (or are, barely), sent on a raw socket. */
export function rawHostile(model: string): Array<{ category: string; bytes: string }> {
  const valid = JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] });
  return [
    { category: 'raw: garbage', bytes: '\x00\x01\x02GARBAGE\r\n\r\n' },
    { category: 'raw: bad request line', bytes: 'POST\r\n\r\n' },
    { category: 'raw: bad method token', bytes: `F@O /v1/models/${model}:predict HTTP/1.1\r\nHost: x\r\n\r\n` },
    { category: 'raw: unknown method', bytes: `BREW /v2/models/${model}/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n` },
    { category: 'raw: bad version', bytes: `POST /v1/models/${model}:predict HTTP/9.9\r\nHost: x\r\n\r\n` },
    { category: 'raw: header without colon', bytes: `POST /v1/models/${model}:predict HTTP/1.1\r\nHost x\r\n\r\n` },
    { category: 'raw: huge header', bytes: `GET /v2/health/live HTTP/1.1\r\nHost: x\r\nX-Junk: ${'a'.repeat(20_000)}\r\n\r\n` },
    {
      category: 'raw: CL and TE',
      bytes: `POST /v1/models/${model}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    },
    {
      category: 'raw: bad chunk',
      bytes: `POST /v1/models/${model}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n{}\r\n0\r\n\r\n`,
    },
    { category: 'raw: negative length', bytes: `POST /v1/models/${model}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n` },
    {
      category: 'raw: two lengths',
      bytes: `POST /v1/models/${model}:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`,
    },
    {
      category: 'raw: bare LF',
      bytes: `POST /v1/models/${model}:predict HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: ${valid.length}\n\n${valid}`,
    },
    { category: 'raw: nul in path', bytes: `POST /v1/models/${model}\x00:predict HTTP/1.1\r\nHost: x\r\n\r\n` },
    { category: 'raw: space in path', bytes: `POST /v1/models/ir is:predict HTTP/1.1\r\nHost: x\r\n\r\n` },
    {
      category: 'raw: absolute url',
      bytes: `POST http://evil.example/v1/models/${model}:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${valid.length}\r\n\r\n${valid}`,
    },
  ];
}
