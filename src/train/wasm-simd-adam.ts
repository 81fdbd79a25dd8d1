// A tiny hand-assembled WebAssembly SIMD module with one function: Adam's update for a float32
// variable, in one pass over memory it shares with the tfjs wasm backend (its exported
// WebAssembly.Memory), so no data is copied. tfjs runs the same update as ~13 separate elementwise
// kernels (one pass over the parameters each). Every lane operation is the IEEE float32 operation
// tfjs's own kernels perform, in the same order, so the results are the same floats.

const i32 = 0x7f;
const f32 = 0x7d;
const v128 = 0x7b;

/** Unsigned LEB128. */
function uleb(value: number): number[] {
  const out: number[] = [];
  let v = value >>> 0;
  do {
    let byte = v & 0x7f;
    v >>>= 7;
    if (v !== 0) byte |= 0x80;
    out.push(byte);
  } while (v !== 0);
  return out;
}

function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

function name(text: string): number[] {
  const bytes = [...new TextEncoder().encode(text)];
  return [...uleb(bytes.length), ...bytes];
}

// Instructions used below.
const get = (index: number) => [0x20, ...uleb(index)];
const set = (index: number) => [0x21, ...uleb(index)];
const simd = (op: number) => [0xfd, ...uleb(op)];
const load = [...simd(0x00), 0x00, 0x00]; // v128.load align=1 offset=0
const store = [...simd(0x0b), 0x00, 0x00]; // v128.store
const splat = simd(0x13); // f32x4.splat
const sqrt = simd(0xe3);
const add = simd(0xe4);
const mul = simd(0xe6);
const div = simd(0xe7);
const i32Add = [0x6a];

// Parameters: byte addresses value, m, v, g, outValue, outM, outV (i32), element count n (i32),
// then β1, β2, 1−β1, 1−β2, 1−β1ᵗ, 1−β2ᵗ, ε, −lr (f32).
const P = { value: 0, m: 1, v: 2, g: 3, outValue: 4, outM: 5, outV: 6, n: 7, scalars: 8 };
// Locals: i (byte offset), end (bytes), eight splatted scalars, then g, m', v'.
const L = { i: 16, end: 17, b1: 18, b2: 19, c1: 20, c2: 21, d1: 22, d2: 23, eps: 24, step: 25, g: 26, m: 27, v: 28 };

const at = (pointer: number) => [...get(pointer), ...get(L.i), ...i32Add];

function adamBody(): number[] {
  const code: number[] = [];
  for (let k = 0; k < 8; k++) code.push(...get(P.scalars + k), ...splat, ...set(L.b1 + k));
  // end = (n & ~3) * 4: whole vectors only; the caller finishes the last n % 4 elements.
  code.push(...get(P.n), 0x41, ...[0x7c], 0x71, 0x41, 0x02, 0x74, ...set(L.end));
  code.push(0x41, 0x00, ...set(L.i));
  code.push(0x02, 0x40, 0x03, 0x40); // block, loop
  code.push(...get(L.i), ...get(L.end), 0x4f, 0x0d, 0x01); // if i >= end: break
  code.push(...at(P.g), ...load, ...set(L.g));
  // m' = m·β1 + g·(1−β1)
  code.push(...at(P.m), ...load, ...get(L.b1), ...mul, ...get(L.g), ...get(L.c1), ...mul, ...add, ...set(L.m));
  // v' = v·β2 + (g·g)·(1−β2)
  code.push(...at(P.v), ...load, ...get(L.b2), ...mul, ...get(L.g), ...get(L.g), ...mul, ...get(L.c2), ...mul, ...add, ...set(L.v));
  code.push(...at(P.outM), ...get(L.m), ...store);
  code.push(...at(P.outV), ...get(L.v), ...store);
  // x' = ((m'/(1−β1ᵗ)) / (√(v'/(1−β2ᵗ)) + ε))·(−lr) + x
  code.push(...at(P.outValue));
  code.push(...get(L.m), ...get(L.d1), ...div);
  code.push(...get(L.v), ...get(L.d2), ...div, ...sqrt, ...get(L.eps), ...add);
  code.push(...div, ...get(L.step), ...mul, ...at(P.value), ...load, ...add, ...store);
  code.push(...get(L.i), 0x41, 0x10, ...i32Add, ...set(L.i)); // i += 16
  code.push(0x0c, 0x00, 0x0b, 0x0b); // br loop; end loop; end block
  code.push(0x0b); // end function
  const locals = [0x03, 0x02, i32, 0x08, v128, 0x03, v128];
  const body = [...locals, ...code];
  return [...uleb(body.length), ...body];
}

export function adamModuleBytes(): Uint8Array<ArrayBuffer> {
  const params = [...new Array(8).fill(i32), ...new Array(8).fill(f32)];
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, [0x01, 0x60, ...uleb(params.length), ...params, 0x00]),
    ...section(2, [0x01, ...name('env'), ...name('memory'), 0x02, 0x00, 0x01]),
    ...section(3, [0x01, 0x00]),
    ...section(7, [0x01, ...name('adam'), 0x00, 0x00]),
    ...section(10, [0x01, ...adamBody()]),
  ];
  return new Uint8Array(bytes);
}

export type SimdAdam = (
  value: number,
  m: number,
  v: number,
  g: number,
  outValue: number,
  outM: number,
  outV: number,
  n: number,
  beta1: number,
  beta2: number,
  oneMinusBeta1: number,
  oneMinusBeta2: number,
  oneMinusAccBeta1: number,
  oneMinusAccBeta2: number,
  epsilon: number,
  negLearningRate: number,
) => void;

const instances = new WeakMap<WebAssembly.Memory, SimdAdam>();

/** The SIMD Adam function bound to `memory` (compiled once per memory); null where SIMD is unavailable. */
export function simdAdamFor(memory: WebAssembly.Memory): SimdAdam | null {
  const cached = instances.get(memory);
  if (cached) return cached;
  const bytes = adamModuleBytes();
  if (!WebAssembly.validate(bytes)) return null;
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
  const adam = instance.exports.adam as SimdAdam;
  instances.set(memory, adam);
  return adam;
}
