/**
 * A small WebAssembly binary emitter: enough of the core and 128-bit SIMD instruction sets to write numeric
 * kernels (loops over float32 arrays in one exported linear memory) without a toolchain.
 *
 * Code is written as expressions: every helper returns the bytes that leave its value on the stack, so
 * `set(acc, f32x4.add(get(acc), f32x4.mul(a, b)))` reads like the maths. Only what the kernels in this
 * project use is here; opcodes follow the WebAssembly core specification 2.0 (SIMD: prefix 0xfd, LEB128
 * sub-opcode). `tests/wasm_assembler_test.ts` runs every instruction against a JavaScript reference.
 *
 * Why not a compiler: the only toolchains reachable here are npm packages, and the kernels are a few
 * hundred instructions, generated for the sizes at hand (`lib/dynamic/flow_kernel.ts`).
 */

/** Bytes of code (one or more instructions). */
export type Code = readonly number[];
export type ValType = "i32" | "f32" | "v128";

const VALTYPE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Unsigned LEB128. */
function uleb(n: number): number[] {
  if (!(Number.isInteger(n) && n >= 0)) throw new Error(`uleb: ${n} is not a non-negative integer`);
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 (32-bit range). */
function sleb(n: number): number[] {
  if (!(Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31)) throw new Error(`sleb: ${n} is not an i32`);
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** Concatenated code. */
export function seq(...parts: Code[]): Code {
  return parts.flat();
}

/** A local variable (or parameter) of the function being built. */
export interface Local {
  readonly index: number;
  readonly type: ValType;
}

export const get = (l: Local): Code => [0x20, ...uleb(l.index)];
export const set = (l: Local, value: Code): Code => [...value, 0x21, ...uleb(l.index)];

export const i32 = {
  const: (n: number): Code => [0x41, ...sleb(n)],
  add: (a: Code, b: Code): Code => [...a, ...b, 0x6a],
  mul: (a: Code, b: Code): Code => [...a, ...b, 0x6c],
  geS: (a: Code, b: Code): Code => [...a, ...b, 0x4e],
};

/** Memory access at byte address `addr + offset` (offset: a constant folded into the instruction). */
const memarg = (align: number, offset: number) => [...uleb(align), ...uleb(offset)];

export const f32 = {
  const: (x: number): Code => [0x43, ...new Uint8Array(new Float32Array([x]).buffer)],
  load: (addr: Code, offset = 0): Code => [...addr, 0x2a, ...memarg(2, offset)],
  store: (addr: Code, value: Code, offset = 0): Code => [...addr, ...value, 0x38, ...memarg(2, offset)],
  add: (a: Code, b: Code): Code => [...a, ...b, 0x92],
};

const simd = (op: number): number[] => [0xfd, ...uleb(op)];

export const v128 = {
  load: (addr: Code, offset = 0): Code => [...addr, ...simd(0x00), ...memarg(4, offset)],
  /** Four copies of the float32 at `addr + offset`. */
  loadSplat: (addr: Code, offset = 0): Code => [...addr, ...simd(0x09), ...memarg(2, offset)],
  store: (
    addr: Code,
    value: Code,
    offset = 0,
  ): Code => [...addr, ...value, ...simd(0x0b), ...memarg(4, offset)],
  and: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x4e)],
  or: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x50)],
  /** Bits of `a` where `mask` is set, of `b` elsewhere. */
  bitselect: (a: Code, b: Code, mask: Code): Code => [...a, ...b, ...mask, ...simd(0x52)],
};

export const f32x4 = {
  splat: (x: number): Code => [...f32.const(x), ...simd(0x13)],
  splatOf: (value: Code): Code => [...value, ...simd(0x13)],
  extractLane: (v: Code, lane: number): Code => [...v, ...simd(0x1f), lane],
  lt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x43)],
  gt: (a: Code, b: Code): Code => [...a, ...b, ...simd(0x44)],
  abs: (a: Code): Code => [...a, ...simd(0xe0)],
  neg: (a: Code): Code => [...a, ...simd(0xe1)],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe4)],
  sub: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe5)],
  mul: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe6)],
  div: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xe7)],
  /** `b < a ? b : a` (one instruction on x86, where `f32x4.min` also orders NaNs and signed zeros). */
  pmin: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xea)],
  /** `a < b ? b : a`. */
  pmax: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xeb)],
  floor: (a: Code): Code => [...a, ...simd(0x68)],
  /** `a b + c`, fused or not as the machine does it (relaxed SIMD; one FMA instruction where there is one). */
  relaxedMadd: (a: Code, b: Code, c: Code): Code => [...a, ...b, ...c, ...simd(0x105)],
};

export const i32x4 = {
  /** Float lanes to integer lanes, truncated toward zero (saturating). */
  truncF32x4: (a: Code): Code => [...a, ...simd(0xf8)],
  splat: (n: number): Code => [...i32.const(n), ...simd(0x11)],
  add: (a: Code, b: Code): Code => [...a, ...b, ...simd(0xae)],
  shl: (a: Code, bits: Code): Code => [...a, ...bits, ...simd(0xab)],
};

/** Runs `body` when `cond` (an i32) is non-zero. */
export const when = (cond: Code, body: Code): Code => [...cond, 0x04, 0x40, ...body, 0x0b];

/** Runs `then` when `cond` (an i32) is non-zero, `otherwise` when it is zero. */
export const ifElse = (cond: Code, then: Code, otherwise: Code): Code => [
  ...cond,
  0x04,
  0x40,
  ...then,
  0x05,
  ...otherwise,
  0x0b,
];

/**
 * `for (i = from; i < to; i += step) body`, `i` a local (signed compare). Branch depths inside `body` are
 * its own: the loop adds two enclosing blocks.
 */
export function forRange(i: Local, from: Code, to: Code, step: Code, body: Code): Code {
  return [
    ...set(i, from),
    0x02,
    0x40, // block
    0x03,
    0x40, // loop
    ...i32.geS(get(i), to),
    0x0d,
    1, // br_if to the block's end
    ...body,
    ...set(i, i32.add(get(i), step)),
    0x0c,
    0, // br to the loop's start
    0x0b,
    0x0b,
  ];
}

/** A function under construction: its parameters, then locals added as the body is written. */
export class FunctionBuilder {
  readonly #params: ValType[];
  readonly #locals: ValType[] = [];
  readonly params: Local[];

  constructor(readonly name: string, params: readonly ValType[]) {
    this.#params = [...params];
    this.params = params.map((type, index) => ({ index, type }));
  }

  local(type: ValType): Local {
    this.#locals.push(type);
    return { index: this.#params.length + this.#locals.length - 1, type };
  }

  /** The function's type (params, no results) and its body entry for the code section. */
  encode(body: Code): { type: number[]; code: number[] } {
    const locals = this.#locals.map((t) => [1, VALTYPE[t]]);
    const entry = [...vec(locals), ...body, 0x0b];
    return {
      type: [0x60, ...vec(this.#params.map((t) => [VALTYPE[t]])), 0],
      code: [...uleb(entry.length), ...entry],
    };
  }
}

/** A module of functions with no results over one exported memory (`memory`, `pages` of 64 KiB). */
export function assemble(
  functions: readonly { builder: FunctionBuilder; body: Code }[],
  pages: number,
): Uint8Array {
  const encoded = functions.map((f) => f.builder.encode(f.body));
  const section = (id: number, content: number[]) => [id, ...uleb(content.length), ...content];
  const name = (s: string) => vec([...new TextEncoder().encode(s)].map((b) => [b]));
  const bytes = [
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00,
    ...section(1, vec(encoded.map((e) => e.type))),
    ...section(3, vec(encoded.map((_, i) => uleb(i)))),
    ...section(5, vec([[0x00, ...uleb(pages)]])),
    ...section(
      7,
      vec([
        [...name("memory"), 0x02, 0],
        ...functions.map((f, i) => [...name(f.builder.name), 0x00, ...uleb(i)]),
      ]),
    ),
    ...section(10, vec(encoded.map((e) => e.code))),
  ];
  return new Uint8Array(bytes);
}
