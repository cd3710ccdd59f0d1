import assert from "node:assert/strict";
import { Kernels } from "../lib/wasm/kernels.ts";
import { Rng } from "../lib/rng.ts";

/** Float32 arrays placed one after another in a kernel instance's memory (16-byte aligned). */
class Arena {
  #next = 64;
  constructor(readonly k: Kernels) {
    k.reserve(1 << 22);
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
}

function randn(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from(rng.normals(n), (v) => v * scale);
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(err <= tol * (1 + Math.abs(expected[i])), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

Deno.test("gemm() computes act(C0 + bias + A B), A read with any strides (A^T too)", async (t) => {
  const rng = new Rng("wasm:gemm");
  const [m, k, n] = [8, 7, 16];
  for (const [transposed, fma] of [[false, true], [true, true], [false, false], [true, false]]) {
    for (const [useC0, useBias, relu] of [[false, false, false], [true, true, true], [true, false, false]]) {
      await t.step(`A${transposed ? "^T" : ""} fma=${fma} c0=${useC0} bias=${useBias} relu=${relu}`, () => {
        const ar = new Arena(new Kernels(fma));
        const a = randn(rng, m * k), b = randn(rng, k * n), c0 = randn(rng, m * n), bias = randn(rng, n);
        // A as stored: [m, k] row-major, or [k, m] row-major read transposed.
        const stored = transposed
          ? Float32Array.from({ length: k * m }, (_, q) => a[(q % m) * k + ((q / m) | 0)])
          : a;
        const pa = ar.put(stored),
          pb = ar.put(b),
          pc0 = ar.put(c0),
          pbias = ar.put(bias),
          pc = ar.zeros(m * n);
        const [aRow, aCol] = transposed ? [4, 4 * m] : [4 * k, 4];
        ar.k.fn.gemm(
          m,
          k,
          n,
          pa,
          aRow,
          aCol,
          pb,
          4 * n,
          pc,
          4 * n,
          useC0 ? pc0 : 0,
          4 * n,
          useBias ? pbias : 0,
          +relu,
          +transposed, // column blocks outside row blocks: the same result, another loop order
        );
        const want = new Float32Array(m * n);
        for (let i = 0; i < m; i++) {
          for (let j = 0; j < n; j++) {
            let s = (useC0 ? c0[i * n + j] : 0) + (useBias ? bias[j] : 0);
            for (let q = 0; q < k; q++) s += a[i * k + q] * b[q * n + j];
            want[i * n + j] = relu ? Math.max(s, 0) : s;
          }
        }
        assertClose(ar.read(pc, m * n), want, 1e-5, "C");
      });
    }
  }
});

Deno.test("gemm() accumulates in place when C0 is C", () => {
  const ar = new Arena(new Kernels());
  const rng = new Rng("wasm:gemm:acc");
  const a = randn(rng, 4 * 3), b = randn(rng, 3 * 8), c = randn(rng, 4 * 8);
  const pa = ar.put(a), pb = ar.put(b), pc = ar.put(c);
  ar.k.fn.gemm(4, 3, 8, pa, 12, 4, pb, 32, pc, 32, pc, 32, 0, 0);
  const want = c.map((v, q) =>
    v + [0, 1, 2].reduce((s, r) => s + a[((q / 8) | 0) * 3 + r] * b[r * 8 + (q % 8)], 0)
  );
  assertClose(ar.read(pc, 32), want, 1e-5, "C");
});

Deno.test("couplingForward() and couplingBackward() match their formulas", () => {
  const ar = new Arena(new Kernels());
  const rng = new Rng("wasm:coupling");
  const [rows, n] = [5, 12];
  const pre = randn(rng, rows * n, 3), mu = randn(rng, rows * n), z = randn(rng, rows * n);
  const rescale = randn(rng, n), ld0 = randn(rng, rows);
  const ps = ar.put(pre), pmu = ar.put(mu), pz = ar.put(z), prs = ar.put(rescale);
  const pd = ar.zeros(rows * n), pe = ar.zeros(rows * n), pld = ar.put(ld0);
  ar.k.fn.couplingForward(rows, n, ps, pmu, pz, prs, pd, pe, pld);
  const s = pre.map(Math.tanh), sm = s.map((v, q) => v * rescale[q % n]);
  const e = sm.map((v) => Math.exp(-v)), d = z.map((v, q) => v - mu[q]);
  assertClose(ar.read(ps, rows * n), s, 1e-6, "s");
  assertClose(ar.read(pe, rows * n), e, 1e-6, "e");
  assertClose(ar.read(pd, rows * n), d, 1e-6, "d");
  assertClose(ar.read(pz, rows * n), d.map((v, q) => v * e[q]), 1e-6, "z");
  const ld = ld0.map((v, r) => v + sm.slice(r * n, (r + 1) * n).reduce((a, b) => a + b, 0));
  assertClose(ar.read(pld, rows), ld, 1e-6, "logDet");

  const dz = randn(rng, rows * n), g = randn(rng, rows), drs0 = randn(rng, n);
  const pdz = ar.put(dz), pg = ar.put(g), pdpre = ar.zeros(rows * n), pdrs = ar.put(drs0);
  ar.k.fn.couplingBackward(rows, n, pdz, pe, pd, ps, prs, pg, pdpre, pdrs);
  const tt = dz.map((v, q) => v * e[q]);
  const dsm = tt.map((v, q) => -g[(q / n) | 0] - v * d[q]);
  const drs = drs0.map((v, j) =>
    v + Array.from({ length: rows }, (_, r) => dsm[r * n + j] * s[r * n + j]).reduce((a, b) => a + b)
  );
  assertClose(ar.read(pdz, rows * n), tt, 1e-6, "t");
  assertClose(ar.read(pdrs, n), drs, 1e-5, "drescale");
  assertClose(
    ar.read(pdpre, rows * n),
    dsm.map((v, q) => v * rescale[q % n] * (1 - s[q] * s[q])),
    1e-5,
    "dpre",
  );
});

Deno.test("couplingForward() has tanh and exp within float32 precision over their range", () => {
  const ar = new Arena(new Kernels());
  const n = 4096;
  // Pre-activations from -12 to 12 (tanh saturates), rescale 1: sm = tanh(x), e = exp(-tanh(x)).
  const x = Float32Array.from({ length: n }, (_, q) => -12 + (24 * q) / (n - 1));
  const px = ar.put(x), pmu = ar.zeros(n), pz = ar.put(new Float32Array(n).fill(1));
  const prs = ar.put(new Float32Array(n).fill(1)), pd = ar.zeros(n), pe = ar.zeros(n), pld = ar.zeros(1);
  ar.k.fn.couplingForward(1, n, px, pmu, pz, prs, pd, pe, pld);
  const s = ar.read(px, n), e = ar.read(pe, n);
  for (let q = 0; q < n; q++) {
    const want = Math.tanh(x[q]);
    assert.ok(
      Math.abs(s[q] - want) <= 3e-7 * Math.max(Math.abs(want), 1e-3),
      `tanh(${x[q]}) = ${s[q]}, want ${want}`,
    );
    const we = Math.exp(-s[q]);
    assert.ok(Math.abs(e[q] - we) <= 3e-7 * we, `exp(${-s[q]}) = ${e[q]}, want ${we}`);
  }
  // Small arguments keep their relative precision (the polynomial branch).
  const tiny = Float32Array.from([1e-6, -3e-5, 0.01, -0.3, 0.6249, 0.6251, 0, -0]);
  const pt = ar.put(tiny), pmu2 = ar.zeros(8), pz2 = ar.zeros(8), prs2 = ar.put(new Float32Array(8).fill(1));
  ar.k.fn.couplingForward(1, 8, pt, pmu2, pz2, prs2, ar.zeros(8), ar.zeros(8), ar.zeros(1));
  ar.read(pt, 8).forEach((v, q) =>
    assert.ok(
      Math.abs(v - Math.tanh(tiny[q])) <= 2e-7 * Math.abs(Math.tanh(tiny[q])),
      `tanh(${tiny[q]}) = ${v}`,
    )
  );
});

Deno.test("exp inside couplingForward() is exact to float32 over its clamped range", () => {
  const ar = new Arena(new Kernels());
  const n = 2048;
  // With s = tanh(pre) = 1 (pre large) and rescale r, e = exp(-r): r sweeps -80..80.
  const r = Float32Array.from({ length: n }, (_, q) => -80 + (160 * q) / (n - 1));
  const pre = ar.put(new Float32Array(n).fill(20)), prs = ar.put(r), pe = ar.zeros(n);
  ar.k.fn.couplingForward(1, n, pre, ar.zeros(n), ar.zeros(n), prs, ar.zeros(n), pe, ar.zeros(1));
  ar.read(pe, n).forEach((v, q) => {
    const want = Math.exp(-r[q]);
    // A few ulps; large arguments lose a little more in the range reduction (exp's condition number is |x|).
    const tol = Math.abs(r[q]) <= 10 ? 3e-7 : 1e-6;
    assert.ok(Math.abs(v - want) <= tol * want, `exp(${-r[q]}) = ${v}, want ${want}`);
  });
});

Deno.test("reluMask() and columnSum()", () => {
  const ar = new Arena(new Kernels());
  const rng = new Rng("wasm:mask");
  const dy = randn(rng, 24), y = randn(rng, 24).map((v, q) => (q % 5 === 0 ? 0 : v));
  const pdy = ar.put(dy), py = ar.put(y);
  ar.k.fn.reluMask(24, pdy, py);
  assert.deepEqual([...ar.read(pdy, 24)], [...dy.map((v, q) => (y[q] > 0 ? v : 0))]);
  const x = randn(rng, 3 * 8), out0 = randn(rng, 8);
  const pout = ar.put(out0);
  ar.k.fn.columnSum(3, 8, ar.put(x), pout);
  assertClose(ar.read(pout, 8), out0.map((v, j) => v + x[j] + x[8 + j] + x[16 + j]), 1e-6, "sum");
});

Deno.test("Kernels use fused multiply-adds on this engine (Deno's V8 has relaxed SIMD)", () => {
  assert.equal(new Kernels().fma, true);
  assert.equal(new Kernels(false).fma, false);
});

Deno.test("Kernels.reserve() grows the memory and keeps its contents", () => {
  const k = new Kernels();
  k.reserve(1000);
  k.f32[10] = 3.5;
  k.reserve(5 << 20);
  assert.ok(k.fn.memory.buffer.byteLength >= 5 << 20);
  assert.equal(k.f32[10], 3.5);
  assert.equal(k.f32.buffer, k.fn.memory.buffer);
});
