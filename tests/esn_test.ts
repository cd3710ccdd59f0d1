import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { EigenvalueDecomposition, Matrix } from "ml-matrix";
import { selectBackend } from "../lib/backend.ts";
import { SequenceBatch } from "../lib/data/sequences.ts";
import { randomSparse, sparseToDense, spectralRadius } from "../lib/dynamic/sparse.ts";
import { EchoStateNetwork, esnStatesDense } from "../lib/esn.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

/** Independent reference: all eigenvalues of the dense matrix (ml-matrix's Hessenberg QR). */
function denseRadius(values: Float64Array, n: number): number {
  const m = new Matrix(n, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) m.set(i, j, values[i * n + j]);
  const e = new EigenvalueDecomposition(m, { assumeSymmetric: false });
  return Math.max(...e.realEigenvalues.map((re, i) => Math.hypot(re, e.imaginaryEigenvalues[i])));
}

/** Independent reference: sqrt of the largest eigenvalue of W^T W by power iteration (symmetric PSD). */
function powerSingular(w: Float32Array, rows: number, cols: number): number {
  let v = new Float64Array(cols).fill(1);
  let lambda = 0;
  for (let it = 0; it < 2000; it++) {
    const u = new Float64Array(rows);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) u[r] += w[r * cols + c] * v[c];
    const next = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) next[c] += w[r * cols + c] * u[r];
    lambda = Math.hypot(...next);
    v = next.map((e) => e / lambda);
  }
  return Math.sqrt(lambda);
}

Deno.test("spectralRadius() matches a dense eigen-decomposition, with restarts exercised", () => {
  for (const [n, seed] of [[40, 1], [120, 2], [120, 3]]) {
    const a = randomSparse(n, 5, new Rng(seed));
    const expected = denseRadius(sparseToDense(a), n);
    // Krylov dimension 12 << n forces several restarts.
    const got = spectralRadius(a, new Rng(9), { krylov: 12 });
    assert.ok(Math.abs(got - expected) <= 1e-6 * expected, `n=${n}: Arnoldi ${got}, dense ${expected}`);
  }
});

Deno.test("spectralRadius() refuses to return an estimate that has not converged, naming the residual", () => {
  const a = randomSparse(120, 5, new Rng(2));
  // Krylov size 4 and no restart cannot reach 1e-9 on this matrix (the defaults do, above).
  assert.throws(
    () => spectralRadius(a, new Rng(9), { krylov: 4, maxRestarts: 0 }),
    /did not converge for the 120 x 120 matrix after 0 restarts \(Krylov size 4\): relative residual [0-9.e+-]+ > tol 1e-9/,
  );
});

Deno.test("randomSparse() puts conn_per_neuron distinct columns in every row", () => {
  const a = randomSparse(30, 7, new Rng(0));
  for (let r = 0; r < 30; r++) {
    const cols = new Set(a.columns.subarray(r * 7, r * 7 + 7));
    assert.equal(cols.size, 7);
  }
  assert.throws(
    () => randomSparse(5, 6, new Rng(0)),
    /conn_per_neuron must be an integer in \[1, 5\], got 6/,
  );
});

Deno.test("EchoStateNetwork is scaled to its spectral radius and feedback singular value", () => {
  const esn = new EchoStateNetwork(
    { frameDim: 3, esnDim: 50, connPerNeuron: 6, spectralRadius: 0.7, leakingRate: 0.3 },
    new Rng(4),
  );
  try {
    const w = esn.denseReservoir();
    const rho = denseRadius(Float64Array.from(w.dataSync()), 50);
    w.dispose();
    assert.ok(Math.abs(rho - 0.7) < 1e-5, `spectral radius ${rho}`);
    const sigma = powerSingular(esn.feedback.dataSync() as Float32Array, 50, 3);
    assert.ok(Math.abs(sigma - Math.sqrt(0.7)) < 1e-5, `largest singular value ${sigma}`);
    const nnz = (esn.reservoirValues.dataSync() as Float32Array).filter((v) => v !== 0).length;
    assert.equal(nnz, 50 * 6);
  } finally {
    disposeModule(esn);
  }
});

Deno.test("EchoStateNetwork: same seed, same reservoir; buffers only, no parameters", () => {
  const opts = { frameDim: 2, esnDim: 20 };
  const [a, b, c] = [0, 0, 1].map((s) => new EchoStateNetwork(opts, new Rng(s)));
  try {
    assert.equal(a.parameters().length, 0);
    assert.deepEqual(a.buffers().map(([n]) => n), ["reservoir_values", "reservoir_columns", "feedback"]);
    for (const [, v] of a.buffers()) assert.equal(v.trainable, false);
    assert.deepEqual(a.reservoirValues.dataSync(), b.reservoirValues.dataSync());
    assert.deepEqual(a.feedback.dataSync(), b.feedback.dataSync());
    assert.notDeepEqual(a.feedback.dataSync(), c.feedback.dataSync());
  } finally {
    for (const e of [a, b, c]) disposeModule(e);
  }
});

Deno.test("encodePacked() equals the dense tfjs recurrence, h_0 = 0", () => {
  const esn = new EchoStateNetwork({ frameDim: 3, esnDim: 30, leakingRate: 0.4 }, new Rng(5));
  const rng = new Rng(6);
  const lengths = [4, 1, 6];
  const seqs = lengths.map((l) => rng.normals(l * 3));
  const batch = SequenceBatch.fromSequences(seqs, 3);
  try {
    const packed = esn.encodePacked(batch.packedHost, batch.lengths);
    const dense = tf.tidy(() => {
      const s = esnStatesDense(esn, batch.padded()); // [T, B, N]
      return tf.gather(s.reshape([-1, 30]), batch.rowIndexTensor());
    });
    const d = dense.dataSync();
    dense.dispose();
    let worst = 0;
    for (let i = 0; i < d.length; i++) worst = Math.max(worst, Math.abs(d[i] - packed[i]));
    assert.ok(worst < 1e-5, `max |sparse - dense| = ${worst}`);
    // First frame of each sequence sees h_0 = 0.
    for (const off of batch.offsets.subarray(0, 3)) {
      assert.ok(packed.subarray(off * 30, off * 30 + 30).every((v) => v === 0));
    }
  } finally {
    batch.dispose();
    disposeModule(esn);
  }
});

Deno.test("step() (tfjs, sparse gather) equals stepHost() and the leaky update formula", () => {
  const esn = new EchoStateNetwork({ frameDim: 2, esnDim: 15, leakingRate: 0.5 }, new Rng(8));
  const rng = new Rng(3);
  const h0 = rng.normals(2 * 15, 0.5), x = rng.normals(2 * 2);
  try {
    const got = tf.tidy(() => esn.step(tf.tensor2d(h0, [2, 15]), tf.tensor2d(x, [2, 2])).dataSync());
    const host = h0.slice();
    esn.stepHost(host, x);
    const want = tf.tidy(() => {
      const w = esn.denseReservoir();
      const h = tf.tensor2d(h0, [2, 15]);
      const pre = h.matMul(w, false, true).add(tf.tensor2d(x, [2, 2]).matMul(esn.feedback, false, true));
      return pre.tanh().mul(0.5).add(h.mul(0.5)).dataSync();
    });
    for (let i = 0; i < want.length; i++) {
      assert.ok(Math.abs(got[i] - want[i]) < 1e-5 && Math.abs(host[i] - want[i]) < 1e-5, `entry ${i}`);
    }
  } finally {
    disposeModule(esn);
  }
});

Deno.test("host copies follow a restored checkpoint (buffers assigned from another seed)", () => {
  const a = new EchoStateNetwork({ frameDim: 2, esnDim: 12 }, new Rng(1));
  const b = new EchoStateNetwork({ frameDim: 2, esnDim: 12 }, new Rng(2));
  const x = new Rng(0).normals(5 * 2);
  try {
    const before = b.encodePacked(x, [5]);
    for (const [i, [, v]] of b.buffers().entries()) v.assign(a.buffers()[i][1]);
    const after = b.encodePacked(x, [5]);
    assert.notDeepEqual(before, after);
    assert.deepEqual(after, a.encodePacked(x, [5]));
  } finally {
    disposeModule(a);
    disposeModule(b);
  }
});

Deno.test("EchoStateNetwork rejects bad options, naming the key and value", () => {
  assert.throws(
    () => new EchoStateNetwork({ frameDim: 2, esnDim: 10, leakingRate: 0 }, new Rng(0)),
    /leaking_rate.*got 0/,
  );
  assert.throws(
    () => new EchoStateNetwork({ frameDim: 2, esnDim: 10, spectralRadius: -1 }, new Rng(0)),
    /spectral_radius.*-1/,
  );
  assert.throws(() => new EchoStateNetwork({ frameDim: 0, esnDim: 10 }, new Rng(0)), /frame_dim.*got 0/);
});
