/**
 * Every host kernel (`lib/wasm/kernels.ts`, source `lib/wasm/kernels_wat.ts`) run directly against a
 * plain JavaScript reference, in both variants (fused multiply-adds and not).
 *
 * Two kinds of reference: where a kernel is a fixed sequence of float32 operations (the unfused product,
 * the couplings' arithmetic, the mask and the column sum), the reference does the same operations in the
 * same order with `Math.fround` after each, and the kernel must match it bit for bit, so that one wrong
 * lane or a swapped operand fails. Where it is not (fused multiply-adds; tanh and exp, which are
 * polynomials), the reference is float64 and the tolerance comes from the float32 error measured here
 * (comments give the numbers). Every call also checks that no byte outside the kernel's outputs changed.
 */
import assert from "node:assert/strict";
import { Kernels, loadKernels, padCols, padRows } from "../lib/wasm/kernels.ts";
import { Rng } from "../lib/rng.ts";

await loadKernels();

const f = Math.fround;
const MEMORY_BYTES = 1 << 22;

/** Float32 arrays placed one after another in a kernel instance's memory, after random filler. */
class Arena {
  #next = 64;
  constructor(readonly k: Kernels, rng: Rng) {
    k.reserve(MEMORY_BYTES);
    // Random filler everywhere, so that a kernel that reads or writes outside its operands shows.
    k.f32.set(rng.normals(k.f32.length, 100));
  }
  put(values: ArrayLike<number>): number {
    const at = this.#next;
    this.k.f32.set(values, at / 4);
    this.#next += Math.ceil(values.length / 4) * 16 + 16;
    return at;
  }
  zeros(n: number): number {
    return this.put(new Float32Array(n));
  }
  read(at: number, n: number): Float32Array {
    return this.k.f32.slice(at / 4, at / 4 + n);
  }
  /**
   * Runs `call` and checks that it changed no float outside `outputs` (`[byte address, floats]` each);
   * returns nothing (read the outputs afterwards).
   */
  only(outputs: readonly (readonly [number, number])[], call: () => void): void {
    const before = new Uint32Array(this.k.f32.buffer).slice();
    call();
    const after = new Uint32Array(this.k.f32.buffer);
    const allowed = new Uint8Array(after.length);
    for (const [at, n] of outputs) allowed.fill(1, at / 4, at / 4 + n);
    for (let q = 0; q < after.length; q++) {
      if (!allowed[q] && after[q] !== before[q]) {
        assert.fail(`the kernel wrote byte address ${4 * q}, not an output`);
      }
    }
  }
}

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from(rng.normals(n), (v) => v * scale);
}

/** Asserts `actual[i]` and `expected[i]` are the same float32 (bit for bit, -0 and NaN included). */
function assertBits(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], f(expected[i]))) {
      assert.fail(`${what}[${i}]: ${actual[i]}, want ${f(expected[i])}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// gemm

interface GemmCase {
  m: number;
  k: number;
  n: number;
  transposed: boolean;
  c0: boolean;
  bias: boolean;
  relu: boolean;
  columnsOuter: boolean;
  /** Extra floats between C's rows (C a block of a wider matrix, as the layers' `hc` in host_flow.ts). */
  cGap: number;
}

/** The product with the unfused kernel's operations in its order: C0, + bias, + a b for each k, ReLU. */
function gemmFloat32(
  c: GemmCase,
  a: Float32Array,
  b: Float32Array,
  c0: Float32Array,
  bias: Float32Array,
): Float32Array {
  const out = new Float32Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let acc = c.c0 ? c0[i * c.n + j] : 0;
      if (c.bias) acc = f(acc + bias[j]);
      for (let q = 0; q < c.k; q++) acc = f(acc + f(a[i * c.k + q] * b[q * c.n + j]));
      out[i * c.n + j] = c.relu && acc < 0 ? 0 : acc;
    }
  }
  return out;
}

/** The exact product (float64) and, per entry, the scale of its rounding error: `|C0| + |bias| + sum |a b|`. */
function gemmExact(c: GemmCase, a: Float32Array, b: Float32Array, c0: Float32Array, bias: Float32Array) {
  const value = new Float64Array(c.m * c.n), scale = new Float64Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let s = (c.c0 ? c0[i * c.n + j] : 0) + (c.bias ? bias[j] : 0);
      let mag = Math.abs(c.c0 ? c0[i * c.n + j] : 0) + Math.abs(c.bias ? bias[j] : 0);
      for (let q = 0; q < c.k; q++) {
        s += a[i * c.k + q] * b[q * c.n + j];
        mag += Math.abs(a[i * c.k + q] * b[q * c.n + j]);
      }
      value[i * c.n + j] = c.relu ? Math.max(s, 0) : s;
      scale[i * c.n + j] = mag;
    }
  }
  return { value, scale };
}

/** Runs the kernel on `c` with random operands; returns C and the operands. */
function runGemm(kernels: Kernels, c: GemmCase, rng: Rng) {
  const ar = new Arena(kernels, rng);
  const a = randn(rng, c.m * c.k),
    b = randn(rng, c.k * c.n),
    c0 = randn(rng, c.m * c.n),
    bias = randn(rng, c.n);
  // A as stored: [m, k] row-major, or [k, m] row-major read transposed.
  const stored = c.transposed
    ? Float32Array.from({ length: c.k * c.m }, (_, q) => a[(q % c.m) * c.k + ((q / c.m) | 0)])
    : a;
  const cRow = 4 * (c.n + c.cGap);
  const pa = ar.put(stored), pb = ar.put(b), pc0 = ar.put(c0), pbias = ar.put(bias);
  const pc = ar.put(new Float32Array(c.m * (c.n + c.cGap)).fill(7));
  const [aRow, aCol] = c.transposed ? [4, 4 * c.m] : [4 * c.k, 4];
  const rows = Array.from({ length: c.m }, (_, i) => [pc + i * cRow, c.n] as const);
  ar.only(rows, () =>
    kernels.gemm(
      c.m,
      c.k,
      c.n,
      pa,
      aRow,
      aCol,
      pb,
      4 * c.n,
      pc,
      cRow,
      c.c0 ? pc0 : 0,
      4 * c.n,
      c.bias ? pbias : 0,
      +c.relu,
      +c.columnsOuter,
    ));
  const got = new Float32Array(c.m * c.n);
  rows.forEach(([at], i) => got.set(ar.read(at, c.n), i * c.n));
  return { got, a, b, c0, bias };
}

/** Sizes: the smallest block, odd inner sizes, several blocks each way, an empty sum (k = 0). */
const GEMM_SIZES = [[4, 1, 8], [8, 7, 16], [12, 33, 24], [64, 130, 40], [4, 0, 8]] as const;
const GEMM_VARIANTS = [
  { transposed: false, c0: false, bias: false, relu: false, columnsOuter: false, cGap: 0 },
  { transposed: true, c0: true, bias: true, relu: true, columnsOuter: false, cGap: 8 },
  { transposed: false, c0: true, bias: false, relu: false, columnsOuter: true, cGap: 0 },
  { transposed: true, c0: false, bias: true, relu: false, columnsOuter: true, cGap: 4 },
];
const gemmCases = (): GemmCase[] =>
  GEMM_SIZES.flatMap(([m, k, n]) => GEMM_VARIANTS.map((v) => ({ m, k, n, ...v })));
const describe = (c: GemmCase) =>
  `[${c.m}, ${c.k}] x [${c.k}, ${c.n}]${c.transposed ? " A^T" : ""}${c.c0 ? " +C0" : ""}${
    c.bias ? " +bias" : ""
  }${c.relu ? " relu" : ""}${c.columnsOuter ? " columns-outer" : ""}${c.cGap ? ` C row gap ${c.cGap}` : ""}`;

/**
 * Largest |C - exact| / (2^-24 scale) measured over the cases below: 3.55, with fused multiply-adds and
 * without (float32 sums of up to 130 terms; the worst-case bound k 2^-24 scale is far larger).
 */
const GEMM_ERR_ULPS = 5;

/**
 * Relative errors of the kernels' tanh (of max(|tanh x|, 1e-3)) and exp, measured over the sweeps below:
 * tanh 9.4e-8 on [-12, 12], exp 6.9e-8 on [-80, 80] (float32's half ulp is 6e-8).
 */
const TANH_REL = 2e-7, EXP_REL = 1.5e-7;

Deno.test("gemm() unfused equals the float32 reference bit for bit (every size, stride and option)", async (t) => {
  const kernels = new Kernels(false);
  for (const c of gemmCases()) {
    await t.step(describe(c), () => {
      const rng = new Rng(`wasm:gemm:${describe(c)}`);
      const { got, a, b, c0, bias } = runGemm(kernels, c, rng);
      assertBits(got, gemmFloat32(c, a, b, c0, bias), "C");
    });
  }
});

Deno.test("gemm() fused and unfused are within the measured float32 error of the exact product", async (t) => {
  for (const fma of [true, false]) {
    const kernels = new Kernels(fma);
    let worst = 0;
    for (const c of gemmCases()) {
      await t.step(`fma=${fma} ${describe(c)}`, () => {
        const { got, a, b, c0, bias } = runGemm(kernels, c, new Rng(`wasm:gemm:exact:${describe(c)}`));
        const { value, scale } = gemmExact(c, a, b, c0, bias);
        for (let q = 0; q < got.length; q++) {
          const ulps = Math.abs(got[q] - value[q]) / (2 ** -24 * Math.max(scale[q], 1e-30));
          worst = Math.max(worst, ulps);
          assert.ok(
            ulps <= GEMM_ERR_ULPS,
            `C[${q}] = ${got[q]}, exact ${value[q]}: ${ulps.toFixed(2)} ulps of scale`,
          );
        }
      });
    }
    // The tolerance stays near the error: it would hide a real fault if it were far above.
    assert.ok(worst > GEMM_ERR_ULPS / 4, `fma=${fma}: worst error ${worst} ulps; lower GEMM_ERR_ULPS`);
  }
});

Deno.test("gemm() with fma rounds a b + c once (fused) on this engine; without, twice", () => {
  // a b = 1 + 2^-11 + 2^-24 exactly; rounded to float32 the last term (half an ulp, a tie) goes.
  const a = 1 + 2 ** -12, b = 1 + 2 ** -12, c = -1;
  for (const [fma, want] of [[true, 2 ** -11 + 2 ** -24], [false, 2 ** -11]] as const) {
    const kernels = new Kernels(fma);
    const ar = new Arena(kernels, new Rng("wasm:fused"));
    const pa = ar.put(new Float32Array(4).fill(a)), pb = ar.put(new Float32Array(8).fill(b));
    const pc0 = ar.put(new Float32Array(32).fill(c)), pc = ar.zeros(32);
    kernels.gemm(4, 1, 8, pa, 4, 4, pb, 32, pc, 32, pc0, 32, 0, 0);
    assert.deepEqual([...ar.read(pc, 32)], new Array(32).fill(want), `fma=${fma}`);
  }
});

Deno.test("gemm() accumulates in place when C0 is C", () => {
  const kernels = new Kernels(false);
  const rng = new Rng("wasm:gemm:acc");
  const ar = new Arena(kernels, rng);
  const c: GemmCase = {
    m: 4,
    k: 3,
    n: 8,
    transposed: false,
    c0: true,
    bias: false,
    relu: false,
    columnsOuter: false,
    cGap: 0,
  };
  const a = randn(rng, 12), b = randn(rng, 24), c0 = randn(rng, 32);
  const pa = ar.put(a), pb = ar.put(b), pc = ar.put(c0);
  ar.only([[pc, 32]], () => kernels.gemm(4, 3, 8, pa, 12, 4, pb, 32, pc, 32, pc, 32, 0, 0));
  assertBits(ar.read(pc, 32), gemmFloat32(c, a, b, c0, new Float32Array(8)), "C");
});

Deno.test("gemm() on zero-padded operands: the real block is the unpadded product, the padding stays 0", () => {
  // [7, 5] x [5, 6] padded to rows 8 (padRows), inner 8 and columns 8 (padCols), as host_matmul.ts does.
  const [rows, inner, cols] = [7, 5, 6];
  const [m, k, n] = [padRows(rows), padRows(inner), padCols(cols)];
  assert.deepEqual([m, k, n], [8, 8, 8]);
  const rng = new Rng("wasm:gemm:padded");
  const a = randn(rng, rows * inner), b = randn(rng, inner * cols);
  const aPad = new Float32Array(m * k), bPad = new Float32Array(k * n);
  for (let i = 0; i < rows; i++) aPad.set(a.subarray(i * inner, (i + 1) * inner), i * k);
  for (let q = 0; q < inner; q++) bPad.set(b.subarray(q * cols, (q + 1) * cols), q * n);
  for (const fma of [true, false]) {
    const kernels = new Kernels(fma);
    const ar = new Arena(kernels, rng);
    const pa = ar.put(aPad), pb = ar.put(bPad), pc = ar.zeros(m * n);
    kernels.gemm(m, k, n, pa, 4 * k, 4, pb, 4 * n, pc, 4 * n, 0, 0, 0, 0);
    const got = ar.read(pc, m * n);
    const c = { m: rows, k: inner, n: cols, transposed: false, c0: false, bias: false, relu: false };
    const want = gemmFloat32(
      { ...c, columnsOuter: false, cGap: 0 },
      a,
      b,
      new Float32Array(0),
      new Float32Array(0),
    );
    const { value, scale } = gemmExact(
      { ...c, columnsOuter: false, cGap: 0 },
      a,
      b,
      new Float32Array(0),
      new Float32Array(0),
    );
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const v = got[i * n + j];
        if (i >= rows || j >= cols) assert.ok(Object.is(v, 0), `fma=${fma}: padding C[${i}, ${j}] = ${v}`);
        else if (!fma) {
          assert.ok(Object.is(v, want[i * cols + j]), `C[${i}, ${j}] = ${v}, want ${want[i * cols + j]}`);
        } else {
          const q = i * cols + j;
          assert.ok(
            Math.abs(v - value[q]) <= GEMM_ERR_ULPS * 2 ** -24 * scale[q],
            `fma: C[${i}, ${j}] = ${v}`,
          );
        }
      }
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// couplings

const COUPLING_SIZES = [[1, 4], [5, 12], [33, 24]] as const;

Deno.test("couplingForward() matches tanh and exp (float64) and its float32 arithmetic bit for bit", async (t) => {
  for (const fma of [true, false]) {
    const kernels = new Kernels(fma);
    for (const [rows, n] of COUPLING_SIZES) {
      await t.step(`fma=${fma} [${rows}, ${n}]`, () => {
        const rng = new Rng(`wasm:coupling:fwd:${rows}:${n}`);
        const ar = new Arena(kernels, rng);
        const size = rows * n;
        const pre = randn(rng, size, 3), mu = randn(rng, size), z = randn(rng, size);
        const rescale = randn(rng, n), ld0 = randn(rng, rows);
        const ps = ar.put(pre), pmu = ar.put(mu), pz = ar.put(z), prs = ar.put(rescale);
        const pd = ar.zeros(size), pe = ar.zeros(size), pld = ar.put(ld0);
        ar.only(
          [[ps, size], [pz, size], [pd, size], [pe, size], [pld, rows]],
          () => kernels.couplingForward(rows, n, ps, pmu, pz, prs, pd, pe, pld),
        );
        const s = ar.read(ps, size), e = ar.read(pe, size);
        // tanh and exp: polynomials, within the float32 error measured by the sweeps below.
        for (let q = 0; q < size; q++) {
          const ts = Math.tanh(pre[q]);
          assert.ok(
            Math.abs(s[q] - ts) <= TANH_REL * Math.max(Math.abs(ts), 1e-3),
            `s[${q}] = ${s[q]}, tanh ${ts}`,
          );
          const we = Math.exp(-f(s[q] * rescale[q % n]));
          assert.ok(Math.abs(e[q] - we) <= EXP_REL * we, `e[${q}] = ${e[q]}, exp ${we}`);
        }
        // The rest is float32 arithmetic on the kernel's own s and e.
        const sm = s.map((v, q) => f(v * rescale[q % n]));
        const d = z.map((v, q) => f(v - mu[q]));
        assertBits(ar.read(pd, size), d, "d");
        assertBits(ar.read(pz, size), d.map((v, q) => f(v * e[q])), "z");
        const ld = ld0.map((v, r) => {
          const lanes = [0, 0, 0, 0];
          for (let j = 0; j < n; j++) lanes[j % 4] = f(lanes[j % 4] + sm[r * n + j]);
          return f(v + f(f(lanes[0] + lanes[1]) + f(lanes[2] + lanes[3])));
        });
        assertBits(ar.read(pld, rows), ld, "logDet");
      });
    }
  }
});

Deno.test("couplingBackward() equals its float32 reference bit for bit", async (t) => {
  for (const fma of [true, false]) {
    const kernels = new Kernels(fma);
    for (const [rows, n] of COUPLING_SIZES) {
      await t.step(`fma=${fma} [${rows}, ${n}]`, () => {
        const rng = new Rng(`wasm:coupling:bwd:${rows}:${n}`);
        const ar = new Arena(kernels, rng);
        const size = rows * n;
        const dz = randn(rng, size), e = randn(rng, size).map(Math.exp), d = randn(rng, size);
        const s = randn(rng, size).map(Math.tanh), rescale = randn(rng, n), g = randn(rng, rows);
        const drs0 = randn(rng, n);
        const pdz = ar.put(dz), pe = ar.put(e), pd = ar.put(d), ps = ar.put(s), prs = ar.put(rescale);
        const pg = ar.put(g), pdpre = ar.zeros(size), pdrs = ar.put(drs0);
        ar.only(
          [[pdz, size], [pdpre, size], [pdrs, n]],
          () => kernels.couplingBackward(rows, n, pdz, pe, pd, ps, prs, pg, pdpre, pdrs),
        );
        const t = dz.map((v, q) => f(v * e[q]));
        const dsm = t.map((v, q) => f(-g[(q / n) | 0] - f(v * d[q])));
        const drs = Float32Array.from(drs0);
        for (let r = 0; r < rows; r++) {
          for (let j = 0; j < n; j++) drs[j] = f(drs[j] + f(dsm[r * n + j] * s[r * n + j]));
        }
        assertBits(ar.read(pdz, size), t, "t");
        assertBits(ar.read(pdrs, n), drs, "drescale");
        const dpre = dsm.map((v, q) => f(f(v * rescale[q % n]) * f(1 - f(s[q] * s[q]))));
        assertBits(ar.read(pdpre, size), dpre, "dpre");
      });
    }
  }
});

Deno.test("couplingForward() has tanh and exp within float32 precision over their range", () => {
  const kernels = new Kernels();
  const ar = new Arena(kernels, new Rng("wasm:range"));
  const n = 4096;
  // Pre-activations from -12 to 12 (tanh saturates), rescale 1: sm = tanh(x), e = exp(-tanh(x)).
  const x = Float32Array.from({ length: n }, (_, q) => -12 + (24 * q) / (n - 1));
  const px = ar.put(x), pmu = ar.zeros(n), pz = ar.put(new Float32Array(n).fill(1));
  const prs = ar.put(new Float32Array(n).fill(1)), pd = ar.zeros(n), pe = ar.zeros(n), pld = ar.zeros(4);
  kernels.couplingForward(1, n, px, pmu, pz, prs, pd, pe, pld);
  const s = ar.read(px, n), e = ar.read(pe, n);
  for (let q = 0; q < n; q++) {
    const want = Math.tanh(x[q]);
    assert.ok(
      Math.abs(s[q] - want) <= TANH_REL * Math.max(Math.abs(want), 1e-3),
      `tanh(${x[q]}) = ${s[q]}, want ${want}`,
    );
    const we = Math.exp(-s[q]);
    assert.ok(Math.abs(e[q] - we) <= EXP_REL * we, `exp(${-s[q]}) = ${e[q]}, want ${we}`);
  }
  // Small arguments keep their relative precision (the polynomial branch).
  const tiny = Float32Array.from([1e-6, -3e-5, 0.01, -0.3, 0.6249, 0.6251, 0, -0]);
  const pt = ar.put(tiny), pmu2 = ar.zeros(8), pz2 = ar.zeros(8), prs2 = ar.put(new Float32Array(8).fill(1));
  kernels.couplingForward(1, 8, pt, pmu2, pz2, prs2, ar.zeros(8), ar.zeros(8), ar.zeros(4));
  ar.read(pt, 8).forEach((v, q) =>
    assert.ok(
      Math.abs(v - Math.tanh(tiny[q])) <= TANH_REL * Math.abs(Math.tanh(tiny[q])),
      `tanh(${tiny[q]}) = ${v}`,
    )
  );
});

Deno.test("exp inside couplingForward() is exact to float32 over its clamped range", () => {
  const kernels = new Kernels();
  const ar = new Arena(kernels, new Rng("wasm:exp"));
  const n = 2048;
  // With s = tanh(pre) = 1 (pre large) and rescale r, e = exp(-r): r sweeps -80..80.
  const r = Float32Array.from({ length: n }, (_, q) => -80 + (160 * q) / (n - 1));
  const pre = ar.put(new Float32Array(n).fill(20)), prs = ar.put(r), pe = ar.zeros(n);
  kernels.couplingForward(1, n, pre, ar.zeros(n), ar.zeros(n), prs, ar.zeros(n), pe, ar.zeros(4));
  ar.read(pe, n).forEach((v, q) => {
    const want = Math.exp(-r[q]);
    assert.ok(Math.abs(v - want) <= EXP_REL * want, `exp(${-r[q]}) = ${v}, want ${want}`);
  });
});

// ---------------------------------------------------------------------------------------------------------
// mask and column sum

Deno.test("reluMask() and columnSum() equal their references bit for bit", async (t) => {
  for (const fma of [true, false]) {
    const kernels = new Kernels(fma);
    for (const [rows, n] of [[1, 4], [3, 8], [37, 44]] as const) {
      await t.step(`fma=${fma} [${rows}, ${n}]`, () => {
        const rng = new Rng(`wasm:mask:${rows}:${n}`);
        const ar = new Arena(kernels, rng);
        const size = rows * n;
        // Zeros and negative zeros in y: the mask keeps dy only where y > 0.
        const dy = randn(rng, size),
          y = randn(rng, size).map((v, q) => (q % 5 === 0 ? 0 : q % 7 === 0 ? -0 : v));
        const pdy = ar.put(dy), py = ar.put(y);
        ar.only([[pdy, size]], () => kernels.reluMask(size, pdy, py));
        assertBits(ar.read(pdy, size), dy.map((v, q) => (y[q] > 0 ? v : 0)), "dy");
        const x = randn(rng, size), out0 = randn(rng, n);
        const px = ar.put(x), pout = ar.put(out0);
        ar.only([[pout, n]], () => kernels.columnSum(rows, n, px, pout));
        const want = out0.map((v, j) => {
          let total = 0;
          for (let r = 0; r < rows; r++) total = f(total + x[r * n + j]);
          return f(v + total);
        });
        assertBits(ar.read(pout, n), want, "out");
      });
    }
  }
});

// ---------------------------------------------------------------------------------------------------------
// preconditions

Deno.test("each kernel's preconditions throw an Error naming the kernel, the argument and its value", () => {
  const kernels = new Kernels();
  const ar = new Arena(kernels, new Rng("wasm:checks"));
  const end = MEMORY_BYTES;
  const A = ar.zeros(64), B = ar.zeros(64), C = ar.zeros(64), V = ar.zeros(64), W = ar.zeros(64);
  // A valid call of each, then one argument changed at a time.
  const gemm = (o: Partial<Record<string, number>> = {}) => {
    const x = {
      m: 4,
      k: 2,
      n: 8,
      a: A,
      aRow: 8,
      aCol: 4,
      b: B,
      bRow: 32,
      c: C,
      cRow: 32,
      c0: 0,
      c0Row: 0,
      bias: 0,
      ...o,
    };
    kernels.gemm(x.m, x.k, x.n, x.a, x.aRow, x.aCol, x.b, x.bRow, x.c, x.cRow, x.c0, x.c0Row, x.bias, 0);
  };
  gemm();
  gemm({ c0: C, c0Row: 32, bias: V });
  const cases: [string, () => void, RegExp][] = [
    [
      "gemm m",
      () => gemm({ m: 6 }),
      /^gemm: m = 6 is not a non-negative multiple of 4 \(rows in blocks of 4/,
    ],
    ["gemm n", () => gemm({ n: 12 }), /^gemm: n = 12 is not a non-negative multiple of 8/],
    ["gemm k", () => gemm({ k: -1 }), /^gemm: k = -1 is not a non-negative multiple of 1/],
    [
      "gemm a alignment",
      () => gemm({ a: A + 2 }),
      /^gemm: a = \d+ is not a non-negative multiple of 4 \(float32 address\)/,
    ],
    ["gemm aCol", () => gemm({ aCol: 6 }), /^gemm: aCol = 6 is not a non-negative multiple of 4/],
    [
      "gemm b alignment",
      () => gemm({ b: B + 8 }),
      /^gemm: b = \d+ is not a non-negative multiple of 16 \(read 16 bytes/,
    ],
    ["gemm bRow", () => gemm({ bRow: 40 }), /^gemm: bRow = 40 is not a non-negative multiple of 16/],
    ["gemm cRow", () => gemm({ cRow: 36 }), /^gemm: cRow = 36 is not a non-negative multiple of 16/],
    [
      "gemm c size",
      () => gemm({ c: end - 64 }),
      new RegExp(
        `^gemm: c at byte ${
          end - 64
        } spans 128 bytes, past the end of the kernels' memory \\(${end} bytes\\)`,
      ),
    ],
    ["gemm a size", () => gemm({ aRow: end }), /^gemm: a at byte \d+ spans \d+ bytes, past the end/],
    ["gemm c0Row", () => gemm({ c0: C, c0Row: 4 }), /^gemm: c0Row = 4 is not a non-negative multiple of 16/],
    [
      "gemm c0 size",
      () => gemm({ c0: end - 16, c0Row: 32 }),
      /^gemm: c0 at byte \d+ spans 128 bytes, past the end/,
    ],
    [
      "gemm bias size",
      () => gemm({ bias: end - 16 }),
      /^gemm: bias at byte \d+ spans 32 bytes, past the end/,
    ],
    [
      "couplingForward n",
      () => kernels.couplingForward(2, 6, A, B, C, V, W, A, B),
      /^couplingForward: n = 6 is not a non-negative multiple of 4/,
    ],
    [
      "couplingForward s alignment",
      () => kernels.couplingForward(2, 4, A + 4, B, C, V, W, A, B),
      /^couplingForward: s = \d+ is not a non-negative multiple of 16/,
    ],
    [
      "couplingForward logDet size",
      () => kernels.couplingForward(2, 4, A, B, C, V, W, A, end - 4),
      /^couplingForward: logDet at byte \d+ spans 8 bytes, past the end/,
    ],
    [
      "couplingForward e size",
      () => kernels.couplingForward(2, 4, A, B, C, V, W, end - 16, B),
      /^couplingForward: e at byte \d+ spans 32 bytes, past the end/,
    ],
    [
      "couplingBackward drescale",
      () => kernels.couplingBackward(2, 4, A, B, C, V, W, A, B, C + 4),
      /^couplingBackward: drescale = \d+ is not a non-negative multiple of 16/,
    ],
    [
      "couplingBackward rows",
      () => kernels.couplingBackward(1.5, 4, A, B, C, V, W, A, B, C),
      /^couplingBackward: rows = 1.5 is not/,
    ],
    [
      "reluMask count",
      () => kernels.reluMask(6, A, B),
      /^reluMask: count = 6 is not a non-negative multiple of 4/,
    ],
    [
      "reluMask y size",
      () => kernels.reluMask(8, A, end - 16),
      /^reluMask: y at byte \d+ spans 32 bytes, past the end/,
    ],
    [
      "columnSum n",
      () => kernels.columnSum(2, 2, A, B),
      /^columnSum: n = 2 is not a non-negative multiple of 4/,
    ],
    [
      "columnSum out size",
      () => kernels.columnSum(2, 8, A, end - 16),
      /^columnSum: out at byte \d+ spans 32 bytes, past the end/,
    ],
  ];
  for (const [what, call, message] of cases) {
    // A failed check throws before the kernel runs: the memory is untouched.
    ar.only([], () =>
      assert.throws(call, (e: Error) => {
        assert.match(e.message, message, what);
        return true;
      }));
  }
});

// ---------------------------------------------------------------------------------------------------------
// instances

Deno.test("Kernels use fused multiply-adds on this engine (Deno's V8 has relaxed SIMD)", () => {
  assert.equal(new Kernels().fma, true);
  assert.equal(new Kernels(false).fma, false);
});

Deno.test("Kernels.reserve() grows the memory and keeps its contents", () => {
  const k = new Kernels();
  k.reserve(1000);
  k.f32[10] = 3.5;
  k.reserve(5 << 20);
  assert.ok(k.memory.buffer.byteLength >= 5 << 20);
  assert.equal(k.f32[10], 3.5);
  assert.equal(k.f32.buffer, k.memory.buffer);
});

Deno.test("new Kernels() before loadKernels() throws, saying what to await", async () => {
  const code = `import { Kernels } from "./lib/wasm/kernels.ts";
try { new Kernels(); console.log("constructed"); } catch (e) { console.log(e.message); }`;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "--config", "deno.json", code] })
    .output();
  assert.equal(
    new TextDecoder().decode(out.stdout).trim(),
    "Kernels: the kernels' module is not compiled yet: await loadKernels() first",
  );
});
