/**
 * Float32 kernels in WebAssembly SIMD for the host path of the ESN flow's log-likelihood
 * (`lib/dynamic/host_flow.ts`): a blocked matrix product with optional initial value, bias and ReLU, and
 * the elementwise parts of an affine coupling, forward and backward.
 *
 * Why: at esn_flow_timit's sizes (~1,000 rows, widths 20-40) every product is small, and tfjs-wasm spends
 * most of a training step dispatching ~800 such kernels (README, performance section). Here one call runs
 * a whole product or coupling on one memory, with nothing allocated.
 *
 * Layout: all matrices are row-major float32 in the module's memory; addresses and row strides are in
 * bytes. Products need `m % 4 == 0` and `n % 8 == 0` (the register block is 4 rows x 8 columns): callers
 * pad with zero rows and columns, which leave the real entries unchanged. Elementwise kernels need
 * widths `n % 4 == 0`.
 */
import {
  assemble,
  type Code,
  f32,
  f32x4,
  forRange,
  FunctionBuilder,
  get,
  i32,
  ifElse,
  type Local,
  seq,
  set,
  v128,
  when,
} from "./assembler.ts";
import { expInto, tanhInto, vmathLocals } from "./vmath.ts";

const zero = f32x4.splat(0);
/** `n` rounded up to the products' row block (4): pad a product's row count to this. */
export const padRows = (n: number): number => Math.ceil(n / 4) * 4;

/** `n` rounded up to the products' column block (8): pad a product's column count to this. */
export const padCols = (n: number): number => Math.ceil(n / 8) * 8;

/** `a b + c` on lanes: one fused multiply-add (relaxed SIMD) or a product and a sum. */
type Madd = (a: Code, b: Code, c: Code) => Code;
const unfusedMadd: Madd = (a, b, c) => f32x4.add(c, f32x4.mul(a, b));
const add = (...xs: Code[]) => xs.reduce((a, b) => i32.add(a, b));

/** Sum of the four lanes of a v128 local. */
const laneSum = (v: Local): Code =>
  f32.add(
    f32.add(f32x4.extractLane(get(v), 0), f32x4.extractLane(get(v), 1)),
    f32.add(f32x4.extractLane(get(v), 2), f32x4.extractLane(get(v), 3)),
  );

/**
 * `gemm(m, k, n, a, aRow, aCol, b, bRow, c, cRow, c0, c0Row, bias, relu)`:
 * `C[i, j] = act(C0[i, j] + bias[j] + sum_k A[i, k] B[k, j])` for `i < m`, `j < n`, with `A[i, k]` at
 * `a + i aRow + k aCol` (so `A^T` is a product too), `B[k, j]` at `b + k bRow + 4 j`, `C` and `C0` likewise;
 * `c0 = 0` and `bias = 0` mean none, `relu != 0` applies `max(., 0)`. `C0` may be `C` (accumulate).
 * A 15th argument `columnsOuter != 0` loops over column blocks outside row blocks (a 15th argument left out
 * is 0 from JavaScript): faster when `B` is large and `A` small, as `B`'s block of 8 columns then stays in
 * cache for all rows.
 */
function gemm(madd: Madd): { builder: FunctionBuilder; body: Code } {
  const f = new FunctionBuilder("gemm", new Array(15).fill("i32"));
  const [m, k, n, a, aRow, aCol, b, bRow, c, cRow, c0, c0Row, bias, relu, columnsOuter] = f.params;
  const [i, jb, kk, pa, pb, at, aRow2, aRow3] = Array.from({ length: 8 }, () => f.local("i32"));
  const acc = [0, 1, 2, 3].map(() => [f.local("v128"), f.local("v128")]);
  const [b0, b1, av] = [f.local("v128"), f.local("v128"), f.local("v128")];
  const aRowOffset = [null, aRow, aRow2, aRow3];
  const eachAcc = (fn: (x: Local, r: number, half: number) => Code) =>
    seq(...acc.flatMap((pair, r) => pair.map((x, half) => fn(x, r, half))));
  const rowAt = (base: Local, stride: Local, r: number) =>
    add(get(base), i32.mul(add(get(i), i32.const(r)), get(stride)), get(jb));

  const block = seq(
    ifElse(
      get(c0),
      seq(
        ...acc.map((pair, r) =>
          seq(
            set(at, rowAt(c0, c0Row, r)),
            set(pair[0], v128.load(get(at))),
            set(pair[1], v128.load(get(at), 16)),
          )
        ),
      ),
      eachAcc((x) => set(x, zero)),
    ),
    when(
      get(bias),
      seq(
        set(b0, v128.load(add(get(bias), get(jb)))),
        set(b1, v128.load(add(get(bias), get(jb)), 16)),
        eachAcc((x, _, half) => set(x, f32x4.add(get(x), get(half ? b1 : b0)))),
      ),
    ),
    set(pa, add(get(a), i32.mul(get(i), get(aRow)))),
    set(pb, add(get(b), get(jb))),
    forRange(
      kk,
      i32.const(0),
      get(k),
      i32.const(1),
      seq(
        set(b0, v128.load(get(pb))),
        set(b1, v128.load(get(pb), 16)),
        ...acc.map((pair, r) => {
          const offset = aRowOffset[r];
          return seq(
            set(av, v128.loadSplat(offset ? add(get(pa), get(offset)) : get(pa))),
            set(pair[0], madd(get(av), get(b0), get(pair[0]))),
            set(pair[1], madd(get(av), get(b1), get(pair[1]))),
          );
        }),
        set(pa, add(get(pa), get(aCol))),
        set(pb, add(get(pb), get(bRow))),
      ),
    ),
    when(get(relu), eachAcc((x) => set(x, f32x4.pmax(get(x), zero)))),
    ...acc.map((pair, r) =>
      seq(
        set(at, rowAt(c, cRow, r)),
        v128.store(get(at), get(pair[0])),
        v128.store(get(at), get(pair[1]), 16),
      )
    ),
  );
  const rows = (inner: Code) => forRange(i, i32.const(0), get(m), i32.const(4), inner);
  const columns = (inner: Code) =>
    forRange(jb, i32.const(0), i32.mul(get(n), i32.const(4)), i32.const(32), inner);
  const body = seq(
    set(aRow2, add(get(aRow), get(aRow))),
    set(aRow3, add(get(aRow2), get(aRow))),
    ifElse(get(columnsOuter), columns(rows(block)), rows(columns(block))),
  );
  return { builder: f, body };
}

/** Loops `r < rows` and byte offsets `jb < 4 n` of `[rows, n]` matrices; `off` is the element's byte offset. */
function rowsAndLanes(
  f: FunctionBuilder,
  rows: Local,
  n: Local,
  perRow: (r: Local, inner: Code) => Code,
  perLane: (off: Local, jb: Local) => Code,
): Code {
  const [r, jb, off, rowBytes, rowOff] = Array.from({ length: 5 }, () => f.local("i32"));
  return seq(
    set(rowBytes, i32.mul(get(n), i32.const(4))),
    forRange(
      r,
      i32.const(0),
      get(rows),
      i32.const(1),
      seq(
        set(rowOff, i32.mul(get(r), get(rowBytes))),
        perRow(
          r,
          forRange(
            jb,
            i32.const(0),
            get(rowBytes),
            i32.const(16),
            seq(set(off, add(get(rowOff), get(jb))), perLane(off, jb)),
          ),
        ),
      ),
    ),
  );
}

/**
 * `couplingForward(rows, n, s, mu, z, rescale, d, e, logDet)` on `[rows, n]` matrices, in place:
 * `s <- tanh(s)` (s holds the pre-activation), `sm = s rescale`, `e = exp(-sm)`, `d = z - mu`, `z <- d e`,
 * `logDet[r] += sum_j sm[r, j]`.
 */
function couplingForward(): { builder: FunctionBuilder; body: Code } {
  const f = new FunctionBuilder("couplingForward", new Array(9).fill("i32"));
  const [rows, n, s, mu, z, rescale, d, e, logDet] = f.params;
  const [x, sm, ev, dv, total] = Array.from({ length: 5 }, () => f.local("v128"));
  const t = vmathLocals(f);
  const at = (base: Local, off: Local) => add(get(base), get(off));
  const body = rowsAndLanes(
    f,
    rows,
    n,
    (r, inner) => {
      const ld = add(get(logDet), i32.mul(get(r), i32.const(4)));
      return seq(set(total, zero), inner, f32.store(ld, f32.add(f32.load(ld), laneSum(total))));
    },
    (off, jb) =>
      seq(
        set(x, v128.load(at(s, off))),
        tanhInto(x, x, t),
        v128.store(at(s, off), get(x)),
        set(sm, f32x4.mul(get(x), v128.load(at(rescale, jb)))),
        expInto(ev, f32x4.neg(get(sm)), t),
        v128.store(at(e, off), get(ev)),
        set(dv, f32x4.sub(v128.load(at(z, off)), v128.load(at(mu, off)))),
        v128.store(at(d, off), get(dv)),
        v128.store(at(z, off), f32x4.mul(get(dv), get(ev))),
        set(total, f32x4.add(get(total), get(sm))),
      ),
  );
  return { builder: f, body };
}

/**
 * `couplingBackward(rows, n, dz, e, d, s, rescale, g, dpre, drescale)`, the gradient of
 * {@link couplingForward} and of `-sum sm` weighted by the row's upstream gradient `g[r]`:
 * `t = dz e` (stored over `dz`: the gradient of the changed part's input; `-t` is that of `mu`),
 * `dsm = -g - t d`, `drescale[j] += sum_r dsm s`, `dpre = dsm rescale (1 - s^2)` (of the pre-tanh slope).
 */
function couplingBackward(): { builder: FunctionBuilder; body: Code } {
  const f = new FunctionBuilder("couplingBackward", new Array(10).fill("i32"));
  const [rows, n, dz, e, d, s, rescale, g, dpre, drescale] = f.params;
  const [ng, t, sv, dsm] = Array.from({ length: 4 }, () => f.local("v128"));
  const at = (base: Local, off: Local) => add(get(base), get(off));
  const body = rowsAndLanes(
    f,
    rows,
    n,
    (r, inner) =>
      seq(set(ng, f32x4.neg(f32x4.splatOf(f32.load(add(get(g), i32.mul(get(r), i32.const(4))))))), inner),
    (off, jb) =>
      seq(
        set(t, f32x4.mul(v128.load(at(dz, off)), v128.load(at(e, off)))),
        v128.store(at(dz, off), get(t)),
        set(sv, v128.load(at(s, off))),
        set(dsm, f32x4.sub(get(ng), f32x4.mul(get(t), v128.load(at(d, off))))),
        v128.store(at(drescale, jb), f32x4.add(v128.load(at(drescale, jb)), f32x4.mul(get(dsm), get(sv)))),
        v128.store(
          at(dpre, off),
          f32x4.mul(
            f32x4.mul(get(dsm), v128.load(at(rescale, jb))),
            f32x4.sub(f32x4.splat(1), f32x4.mul(get(sv), get(sv))),
          ),
        ),
      ),
  );
  return { builder: f, body };
}

/** `reluMask(count, dy, y)`: `dy <- dy` where `y > 0`, else 0 (the ReLU's gradient given its output). */
function reluMask(): { builder: FunctionBuilder; body: Code } {
  const f = new FunctionBuilder("reluMask", ["i32", "i32", "i32"]);
  const [count, dy, y] = f.params;
  const off = f.local("i32");
  const body = forRange(
    off,
    i32.const(0),
    i32.mul(get(count), i32.const(4)),
    i32.const(16),
    v128.store(
      add(get(dy), get(off)),
      v128.and(v128.load(add(get(dy), get(off))), f32x4.gt(v128.load(add(get(y), get(off))), zero)),
    ),
  );
  return { builder: f, body };
}

/** `columnSum(rows, n, x, out)`: `out[j] += sum_r x[r, j]`. */
function columnSum(): { builder: FunctionBuilder; body: Code } {
  const f = new FunctionBuilder("columnSum", ["i32", "i32", "i32", "i32"]);
  const [rows, n, x, out] = f.params;
  const [jb, r, p, rowBytes] = Array.from({ length: 4 }, () => f.local("i32"));
  const total = f.local("v128");
  const body = seq(
    set(rowBytes, i32.mul(get(n), i32.const(4))),
    forRange(
      jb,
      i32.const(0),
      get(rowBytes),
      i32.const(16),
      seq(
        set(total, zero),
        set(p, add(get(x), get(jb))),
        forRange(
          r,
          i32.const(0),
          get(rows),
          i32.const(1),
          seq(set(total, f32x4.add(get(total), v128.load(get(p)))), set(p, add(get(p), get(rowBytes)))),
        ),
        v128.store(add(get(out), get(jb)), f32x4.add(v128.load(add(get(out), get(jb))), get(total))),
      ),
    ),
  );
  return { builder: f, body };
}

/**
 * The module's bytes. `fma`: products by fused multiply-adds (`f32x4.relaxed_madd`, ~20% faster than a
 * product and a sum at `[1060, 1000] x [1000, 120]` on this machine, measured), which engines without
 * relaxed SIMD reject; sums then round once per term instead of twice, well inside float32 tolerances.
 */
export function kernelModuleBytes(fma: boolean): Uint8Array {
  const products = gemm(fma ? f32x4.relaxedMadd : unfusedMadd);
  return assemble([products, couplingForward(), couplingBackward(), reluMask(), columnSum()], 1);
}

/** The compiled module (once per thread), with fused multiply-adds where the engine has them. */
let compiled: { module: WebAssembly.Module; fma: boolean } | null = null;

function compile(): { module: WebAssembly.Module; fma: boolean } {
  const fused = kernelModuleBytes(true) as BufferSource;
  if (WebAssembly.validate(fused)) return { module: new WebAssembly.Module(fused), fma: true };
  return { module: new WebAssembly.Module(kernelModuleBytes(false) as BufferSource), fma: false };
}

interface KernelExports {
  memory: WebAssembly.Memory;
  gemm(...args: number[]): void;
  couplingForward(...args: number[]): void;
  couplingBackward(...args: number[]): void;
  reluMask(count: number, dy: number, y: number): void;
  columnSum(rows: number, n: number, x: number, out: number): void;
}

const PAGE = 65536;

/** One instance of the kernels with its own memory, which {@link reserve} grows. */
export class Kernels {
  readonly fn: KernelExports;
  #f32: Float32Array;

  /** Whether products use fused multiply-adds (see {@link kernelModuleBytes}). */
  readonly fma: boolean;

  /** `fma`: force the products' kind (default: fused where the engine has relaxed SIMD). */
  constructor(fma?: boolean) {
    compiled ??= compile();
    const module = fma === undefined || fma === compiled.fma
      ? compiled.module
      : new WebAssembly.Module(kernelModuleBytes(fma) as BufferSource);
    this.fma = fma ?? compiled.fma;
    this.fn = new WebAssembly.Instance(module).exports as unknown as KernelExports;
    this.#f32 = new Float32Array(this.fn.memory.buffer);
  }

  /** Makes the memory at least `bytes` long (its contents are kept). */
  reserve(bytes: number): void {
    const have = this.fn.memory.buffer.byteLength;
    if (bytes > have) this.fn.memory.grow(Math.ceil((bytes - have) / PAGE));
    if (this.#f32.buffer !== this.fn.memory.buffer) this.#f32 = new Float32Array(this.fn.memory.buffer);
  }

  /** The memory as float32 (index = byte address / 4); valid until the next {@link reserve}. */
  get f32(): Float32Array {
    return this.#f32;
  }
}
