import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { inverse, luFactor, slogdet } from "../lib/linalg.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

/** Asserts |actual - expected| <= tol. */
function near(actual: number, expected: number, tol: number, what = "value"): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: ${actual} differs from ${expected} by more than ${tol}`,
  );
}

function randomMatrix(n: number, seed: number, diag = 0): Float64Array {
  const rng = new Rng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n * n; i++) a[i] = rng.normal();
  for (let i = 0; i < n; i++) a[i * n + i] += diag;
  return a;
}

/** det by cofactor expansion along the first row: independent of LU, exact enough for n <= 6. */
function cofactorDet(a: ArrayLike<number>, n: number): number {
  if (n === 1) return a[0];
  let det = 0;
  for (let c = 0; c < n; c++) {
    const minor: number[] = [];
    for (let r = 1; r < n; r++) for (let j = 0; j < n; j++) if (j !== c) minor.push(a[r * n + j]);
    det += (c % 2 === 0 ? 1 : -1) * a[c] * cofactorDet(minor, n - 1);
  }
  return det;
}

function matMul64(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) for (let j = 0; j < n; j++) out[i * n + j] += a[i * n + k] * b[k * n + j];
  }
  return out;
}

Deno.test("LU slogdet matches known determinants", async (t) => {
  await t.step("permutation matrix: sign is the permutation's parity, log|det| is 0", () => {
    // The cycle 0->1->2->3->0 is odd (3 transpositions); a swap of two cycles of length 2 is even.
    for (const [perm, sign] of [[[1, 2, 3, 0], -1], [[1, 0, 3, 2], 1]] as const) {
      const a = new Float64Array(16);
      perm.forEach((p, i) => (a[i * 4 + p] = 1));
      const s = luFactor(a, 4).slogdet();
      assert.deepEqual(s.sign, sign);
      near(s.logAbsDet, 0, 1e-15);
    }
  });
  await t.step("triangular matrix: log|det| is the sum of log|diagonal|", () => {
    const n = 6;
    const a = randomMatrix(n, 1);
    const diag = [2, -0.5, 3, 0.1, -7, 1.5];
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < i; j++) a[i * n + j] = 0;
      a[i * n + i] = diag[i];
    }
    const s = luFactor(a, n).slogdet();
    near(s.logAbsDet, diag.reduce((acc, d) => acc + Math.log(Math.abs(d)), 0), 1e-12);
    assert.deepEqual(s.sign, 1); // two negative diagonal entries
  });
  await t.step("random matrix: agrees with cofactor expansion", () => {
    for (const seed of [2, 3, 4]) {
      const a = randomMatrix(6, seed);
      const det = cofactorDet(a, 6);
      const s = luFactor(a, 6).slogdet();
      assert.deepEqual(s.sign, Math.sign(det));
      near(s.logAbsDet, Math.log(Math.abs(det)), 1e-10);
    }
  });
  await t.step("large matrix: log|det(AB)| = log|det A| + log|det B| without overflow", () => {
    const n = 120;
    const a = randomMatrix(n, 5, 30); // |det| ~ 30^120, beyond float64
    const b = randomMatrix(n, 6);
    const ab = luFactor(matMul64(a, b, n), n).slogdet();
    const sa = luFactor(a, n).slogdet();
    const sb = luFactor(b, n).slogdet();
    assert.ok(Number.isFinite(ab.logAbsDet) && ab.logAbsDet > 300);
    near(ab.logAbsDet, sa.logAbsDet + sb.logAbsDet, 1e-8);
    assert.deepEqual(ab.sign, sa.sign * sb.sign);
  });
  await t.step("singular matrix: sign 0, log|det| -Infinity, solve refuses", () => {
    const a = Float64Array.from([1, 2, 3, 2, 4, 6, 0, 1, 1]);
    const lu = luFactor(a, 3);
    assert.deepEqual(lu.slogdet(), { sign: 0, logAbsDet: -Infinity });
    assert.throws(() => lu.solve([1, 2, 3]), /singular/);
  });
  await t.step("non-square input is refused with the sizes", () => {
    assert.throws(() => luFactor(new Float64Array(6), 2), /6 values for n = 2/);
  });
});

Deno.test("LU inverse and solve give A^{-1} A = I and A x = b", () => {
  const n = 20;
  const a = randomMatrix(n, 7);
  const lu = luFactor(a, n);
  const prod = matMul64(lu.inverse(), a, n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) near(prod[i * n + j], i === j ? 1 : 0, 1e-10);
  }
  const rng = new Rng(8);
  const b = Array.from({ length: n * 3 }, () => rng.normal());
  const x = lu.solve(b, 3);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 3; j++) {
      let ax = 0;
      for (let k = 0; k < n; k++) ax += a[i * n + k] * x[k * 3 + j];
      near(ax, b[i * 3 + j], 1e-10);
    }
  }
});

/** Central finite differences of a float64 function of a matrix. */
function finiteDiff(f: (a: Float64Array) => number, a: Float64Array, h = 1e-6): Float64Array {
  const g = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const p = a.slice(), m = a.slice();
    p[i] += h;
    m[i] -= h;
    g[i] = (f(p) - f(m)) / (2 * h);
  }
  return g;
}

Deno.test("slogdet() op: value and gradient W^{-T} match finite differences", () => {
  const n = 5;
  const a = randomMatrix(n, 9, 1);
  const w = tf.tensor2d(Float32Array.from(a), [n, n]);
  const a32 = Float64Array.from(w.dataSync()); // the float32 matrix the op actually sees
  const value = tf.tidy(() => slogdet(w).dataSync()[0]);
  near(value, Math.log(Math.abs(cofactorDet(a32, n))), 1e-5);
  const grad = tf.tidy(() => tf.grad((x: tf.Tensor) => tf.mul(slogdet(x as tf.Tensor2D), 3))(w).dataSync());
  const fd = finiteDiff((m) => 3 * luFactor(m, n).slogdet().logAbsDet, a32);
  for (let i = 0; i < n * n; i++) near(grad[i], fd[i], 1e-4);
  w.dispose();
});

Deno.test("inverse() op: W^{-1} W = I and its gradient matches finite differences", () => {
  const n = 4;
  const a = randomMatrix(n, 10, 2);
  const c = randomMatrix(n, 11); // weights of the scalar test function sum(C * W^{-1})
  const w = tf.tensor2d(Float32Array.from(a), [n, n]);
  const a32 = Float64Array.from(w.dataSync());
  const before = tf.memory().numTensors;
  const prod = tf.tidy(() => tf.matMul(inverse(w), w).dataSync());
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) near(prod[i * n + j], i === j ? 1 : 0, 1e-5);
  }
  const cT = tf.tensor2d(Float32Array.from(c), [n, n]);
  const grad = tf.tidy(() =>
    tf.grad((x: tf.Tensor) => tf.sum(tf.mul(inverse(x as tf.Tensor2D), cT)))(w).dataSync()
  );
  const fd = finiteDiff((m) => luFactor(m, n).inverse().reduce((s, v, i) => s + v * c[i], 0), a32);
  for (let i = 0; i < n * n; i++) near(grad[i], fd[i], 1e-4 * (1 + Math.abs(fd[i])));
  cT.dispose();
  assert.deepEqual(tf.memory().numTensors, before);
  w.dispose();
});

Deno.test("slogdet() op reuses factorisations of unchanged matrices but never a stale one", () => {
  const n = 80; // above the caching threshold
  const a = randomMatrix(n, 15, 3);
  const w = tf.variable(tf.tensor2d(Float32Array.from(a), [n, n]));
  const value = () => tf.tidy(() => slogdet(w as unknown as tf.Tensor2D).dataSync()[0]);
  const fresh = () => luFactor(w.dataSync(), n).slogdet().logAbsDet;
  try {
    const first = value();
    near(first, fresh(), 1e-4, "first");
    for (let i = 0; i < 3; i++) assert.equal(value(), first);
    // A one-entry change must give the new matrix's determinant.
    w.assign(tf.tidy(() => tf.add(w, tf.oneHot(tf.tensor1d([7], "int32"), n * n).reshape([n, n]).mul(5))));
    const second = value();
    near(second, fresh(), 1e-4, "after the change");
    assert.notEqual(second, first);
  } finally {
    w.dispose();
  }
});
