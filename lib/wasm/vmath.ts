/**
 * `exp` and `tanh` on four float32 lanes, as WebAssembly SIMD code (`assembler.ts`).
 *
 * exp (Cephes `expf`): `x = n ln 2 + r` with `n = floor(x log2 e + 1/2)`, `ln 2` split in two so `r` is
 * exact, a degree-7 polynomial for `e^r` on `|r| <= ln 2 / 2`, and `2^n` built in the exponent bits; `x` is
 * clamped to [-87.3, 88.3] so `2^n` stays a normal float. tanh (Cephes `tanhf`): an odd polynomial for
 * `|x| < 0.625`, `1 - 2 / (e^{2|x|} + 1)` with the sign of `x` otherwise (`|x|` capped at 44, where tanh is 1 in
 * float32). Both are within a few float32 ulps of the exact values (`tests/wasm_kernels_test.ts` checks
 * them against `Math.exp` and `Math.tanh`).
 */
import {
  type Code,
  f32x4,
  type FunctionBuilder,
  get,
  i32,
  i32x4,
  type Local,
  seq,
  set,
  v128,
} from "./assembler.ts";

const LOG2E = 1.44269504088896341;
const LN2_HI = 0.693359375;
const LN2_LO = -2.12194440e-4;
const EXP_POLY = [
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
];
const TANH_POLY = [
  -5.70498872745e-3,
  2.06390887954e-2,
  -5.37397155531e-2,
  1.33314422036e-1,
  -3.33332819422e-1,
];

/** Horner's rule `((c0 x + c1) x + ...) + c_last` on lanes of `x`. */
function horner(x: Local, coefficients: readonly number[]): Code {
  let p: Code = f32x4.splat(coefficients[0]);
  for (const c of coefficients.slice(1)) p = f32x4.add(f32x4.mul(p, get(x)), f32x4.splat(c));
  return p;
}

/** Scratch v128 locals for {@link expInto} and {@link tanhInto}, made once per function. */
export interface VmathLocals {
  readonly a: Local;
  readonly b: Local;
  readonly c: Local;
  readonly d: Local;
}

export function vmathLocals(f: FunctionBuilder): VmathLocals {
  return { a: f.local("v128"), b: f.local("v128"), c: f.local("v128"), d: f.local("v128") };
}

/** `out = exp(x)` on four lanes (`x` and `out` may be the same local; uses `t.a`, `t.b`). */
export function expInto(out: Local, x: Code, t: VmathLocals): Code {
  const { a: xc, b: n } = t;
  return seq(
    set(xc, f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.3)), f32x4.splat(88.3))),
    set(n, f32x4.floor(f32x4.add(f32x4.mul(get(xc), f32x4.splat(LOG2E)), f32x4.splat(0.5)))),
    set(
      xc,
      f32x4.sub(
        f32x4.sub(get(xc), f32x4.mul(get(n), f32x4.splat(LN2_HI))),
        f32x4.mul(get(n), f32x4.splat(LN2_LO)),
      ),
    ),
    // 2^n: (n + 127) << 23 read as float bits.
    set(n, i32x4.shl(i32x4.add(i32x4.truncF32x4(get(n)), i32x4.splat(127)), i32.const(23))),
    set(
      out,
      f32x4.mul(
        f32x4.add(
          f32x4.add(f32x4.mul(horner(xc, EXP_POLY), f32x4.mul(get(xc), get(xc))), get(xc)),
          f32x4.splat(1),
        ),
        get(n),
      ),
    ),
  );
}

/** `out = tanh(x)` on four lanes, `x` a local (may be `out`; uses all of `t`). */
export function tanhInto(out: Local, x: Local, t: VmathLocals): Code {
  const { c: small, d: large } = t;
  const z = t.c; // x^2 while the small-argument branch is computed
  return seq(
    // |x| >= 0.625: sign(x) (1 - 2 / (exp(2 min(|x|, 44)) + 1)).
    expInto(large, f32x4.mul(f32x4.pmin(f32x4.abs(get(x)), f32x4.splat(44)), f32x4.splat(2)), t),
    set(large, f32x4.sub(f32x4.splat(1), f32x4.div(f32x4.splat(2), f32x4.add(get(large), f32x4.splat(1))))),
    set(large, v128.or(get(large), v128.and(get(x), i32x4.splat(-0x80000000)))),
    // |x| < 0.625: x + x^3 P(x^2).
    set(z, f32x4.mul(get(x), get(x))),
    set(small, f32x4.add(get(x), f32x4.mul(f32x4.mul(get(x), get(z)), horner(z, TANH_POLY)))),
    set(out, v128.bitselect(get(small), get(large), f32x4.lt(f32x4.abs(get(x)), f32x4.splat(0.625)))),
  );
}
