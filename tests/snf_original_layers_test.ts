/**
 * The layer details that make the MNIST experiments compute what the original Self-Normalizing Flows code
 * computes (issue 14), each checked against a plain float64 reference here; tests/snf_golden_test.ts checks
 * whole models against the original code itself.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { denseIndex, denseMatrix } from "../lib/flows/conv_utils.ts";
import { ConvExp } from "../lib/flows/exponential.ts";
import { Squeeze } from "../lib/flows/glow.ts";
import { withTraining } from "../lib/flows/selfnorm.ts";
import { DERIVATIVE_SHIFT, SplineActivation } from "../lib/flows/spline.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

const softplus = (v: number) => Math.log1p(Math.exp(v));

Deno.test("SplineActivation's knot slopes are 0.001 + softplus(raw + d*), so zero raw parameters give the identity", () => {
  const s = new SplineActivation(1, new Rng(1), { individual: false, tailBound: 10, bins: 5 });
  try {
    s.widths.assign(tf.zeros([5]));
    s.heights.assign(tf.zeros([5]));
    const raw = [0.5, -0.5, 1, 0];
    s.derivatives.assign(tf.tensor1d(raw));
    // Equal bins put the interior knots at -6, -2, 2, 6; at a knot the slope is the knot's derivative.
    // Tolerances: float32 round-off, measured 6e-8 (log slopes) and 2e-7 (a log-det of 6 values).
    const x = tf.tensor2d([[-6], [-2], [2], [6]]);
    const { y, logDet } = s.forward(x);
    const ld = logDet.dataSync();
    raw.forEach((r, i) => {
      const want = Math.log(1e-3 + softplus(r + DERIVATIVE_SHIFT));
      assert.ok(Math.abs(ld[i] - want) < 1e-6, `knot ${i}: log slope ${ld[i]}, want ${want}`);
    });
    assert.deepEqual(Array.from(y.dataSync()), [-6, -2, 2, 6]);
    // All raw parameters zero: every slope is 1 (d* is the reference's log(e^0.999 - 1)).
    s.derivatives.assign(tf.zeros([4]));
    const z = tf.tensor2d([[-9.5, -3.3, 0.01, 4.2, 7.7, 12]]);
    const id = s.forward(z);
    id.y.dataSync().forEach((v, i) => assert.ok(Math.abs(v - z.dataSync()[i]) < 1e-6, `y ${v}`));
    assert.ok(Math.abs(id.logDet.dataSync()[0]) < 2e-6, `logDet ${id.logDet.dataSync()[0]}`);
    tf.dispose([x, y, logDet, z, id.y, id.logDet]);
  } finally {
    tf.dispose([s.widths, s.heights, s.derivatives]);
  }
});

Deno.test("Squeeze puts pixel (2i + dy, 2j + dx) of channel c into channel 4c + 2dy + dx (the original's order)", () => {
  const [h, w, c] = [4, 2, 3];
  const values = Float32Array.from({ length: h * w * c }, (_, i) => i);
  const x = tf.tensor4d(values, [1, h, w, c]);
  const { y } = new Squeeze().forward(x);
  const out = y.dataSync();
  assert.deepEqual(y.shape, [1, 2, 1, 12]);
  for (let i = 0; i < 2; i++) {
    for (let ch = 0; ch < c; ch++) {
      for (let dy = 0; dy < 2; dy++) {
        for (let dx = 0; dx < 2; dx++) {
          const got = out[i * 12 + 4 * ch + 2 * dy + dx]; // output [1, 2, 1, 12]
          assert.equal(got, values[((2 * i + dy) * w + dx) * c + ch]);
        }
      }
    }
  }
  const back = new Squeeze().inverse(y).y;
  assert.deepEqual(back.dataSync(), values);
  tf.dispose([x, y, back]);
});

/**
 * ConvExp on 3 x 3 x 2 images, Q = I, with a kernel large enough that the rescaling is active: `centre` on
 * the centre tap's diagonal (M near centre x I, so the series terms after the 6th are as large as a
 * norm-0.9 kernel allows: 4e-5 of the result) plus N(0, std^2) on every tap.
 */
function convExp(seed: number, centre = 0, std = 0.4): ConvExp {
  const layer = new ConvExp(3, 3, 2, new Rng(seed), { initStd: std });
  layer.conv1x1.weight.assign(tf.eye(2).reshape([1, 1, 2, 2]));
  if (centre) {
    layer.kernel.assign(
      tf.add(layer.kernel, tf.mul(tf.oneHot([4], 9).reshape([3, 3, 1, 1]), tf.eye(2).mul(centre))),
    );
  }
  return layer;
}

const D = 18;

/** The layer's convolution as a float64 `D x D` matrix (row = output value). */
function dense(kernel: tf.Tensor): Float64Array {
  const m = tf.tidy(() =>
    denseMatrix(kernel, denseIndex({ height: 3, width: 3, channels: 2, kernel: 3 }), D)
  );
  const out = Float64Array.from(m.dataSync());
  m.dispose();
  return out;
}

const mv = (m: Float64Array, v: ArrayLike<number>, transpose = false) =>
  Float64Array.from({ length: D }, (_, i) => {
    let s = 0;
    for (let j = 0; j < D; j++) s += (transpose ? m[j * D + i] : m[i * D + j]) * v[j];
    return s;
  });
const unit = (v: Float64Array) => {
  const n = Math.sqrt(v.reduce((a, b) => a + b * b, 0));
  return v.map((x) => x / n);
};
const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** exp(c M) x by `terms` terms of the series, float64. */
function series(m: Float64Array, c: number, x: ArrayLike<number>, terms: number): Float64Array {
  let term = Float64Array.from(x);
  const sum = Float64Array.from(x);
  for (let k = 1; k <= terms; k++) {
    term = mv(m, term).map((v) => (c * v) / k);
    term.forEach((v, i) => (sum[i] += v));
  }
  return sum;
}

Deno.test("ConvExp: 6 series terms in training mode, 13 otherwise; one power-iteration step per training call, kept", () => {
  const layer = convExp(3, 2, 0.05);
  const x = tf.tensor4d(new Rng(4).normals(D), [1, 3, 3, 2]);
  try {
    const k = dense(layer.kernel);
    const u0 = layer.powerU.dataSync().slice(), v0 = layer.powerV.dataSync().slice();
    const expect = (u: ArrayLike<number>, v: ArrayLike<number>, terms: number) => {
      const sigma = dot(u, mv(k, v));
      const factor = Math.max(1, sigma / 0.9) + 1e-5;
      return { z: series(k, 1 / factor, x.dataSync(), terms), sigma };
    };
    const close = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number) =>
      Math.max(...Array.from(want, (w, i) => Math.abs(got[i] - w))) <= tol * Math.sqrt(dot(want, want));
    // Evaluation: the stored vectors, unchanged by the call; 13 terms.
    // float32 sums of terms up to e^0.9 |x|: measured 9e-8 of |z|, tolerance 1e-6; 6 and 13 terms
    // differ by 2.7e-5 here, which the 1e-5 below tells apart.
    const evalZ = tf.tidy(() => layer.forward(x).y.dataSync());
    assert.ok(close(evalZ, expect(u0, v0, 13).z, 1e-6));
    assert.deepEqual(layer.powerU.dataSync(), u0);
    // Training: v <- unit(M^T u), u <- unit(M v) first, stored; then 6 terms with the new estimate.
    const v1 = unit(mv(k, u0, true)), u1 = unit(mv(k, v1));
    const want = expect(u1, v1, 6);
    assert.ok(want.sigma > 0.9, `sigma ${want.sigma}: the test needs the rescaling active`);
    const trainZ = tf.tidy(() => withTraining([layer], () => layer.forward(x).y.dataSync()));
    assert.ok(close(trainZ, want.z, 1e-6), "training-mode output is not the 6-term series");
    assert.ok(!close(trainZ, expect(u1, v1, 13).z, 1e-5), "6 and 13 terms are not told apart");
    assert.ok(close(layer.powerU.dataSync(), u1, 1e-6) && close(layer.powerV.dataSync(), v1, 1e-6));
  } finally {
    tf.dispose([x, ...layer.parameters().map(([, v]) => v), ...layer.buffers().map(([, v]) => v)]);
  }
});

Deno.test("ConvExp's kernel gradient flows through the spectral-norm estimate (finite differences)", () => {
  const layer = convExp(5);
  withTraining([layer], () => layer.effectiveKernel().dispose()); // vectors near the top pair
  const g = tf.tensor4d(new Rng(6).normals(36), [3, 3, 2, 2]);
  try {
    const f = () => tf.tidy(() => tf.sum(tf.mul(layer.effectiveKernel(), g)) as tf.Scalar);
    const { grads } = tf.variableGrads(f, [layer.kernel]);
    const analytic = grads[layer.kernel.name].dataSync();
    const k0 = layer.kernel.dataSync().slice();
    const value = (i: number, h: number) => {
      const k = k0.slice();
      k[i] += h;
      layer.kernel.assign(tf.tensor4d(k, [3, 3, 2, 2]));
      const s = f();
      const out = s.dataSync()[0];
      s.dispose();
      return out;
    };
    const h = 1e-2;
    const numeric = Array.from({ length: 36 }, (_, i) => (value(i, h) - value(i, -h)) / (2 * h));
    layer.kernel.assign(tf.tensor4d(k0, [3, 3, 2, 2]));
    const scale = Math.sqrt(dot(numeric, numeric));
    const err = Math.max(...numeric.map((n, i) => Math.abs(n - analytic[i]))) / scale;
    // float32 differences of a value of size ~1 over 2h and the h^2 term: measured 1.1e-5.
    assert.ok(err < 1e-4, `gradient off by ${err} of its norm`);
    // Holding sigma constant (gradient G / factor only) misses by far more (measured 0.14).
    const factor = tf.tidy(() => tf.div(layer.kernel, layer.effectiveKernel()).dataSync()[0]);
    const frozen = Array.from(g.dataSync(), (v) => v / factor);
    const off = Math.max(...numeric.map((n, i) => Math.abs(n - frozen[i]))) / scale;
    assert.ok(off > 0.05, `the sigma term is too small to test (${off})`);
    tf.dispose(grads);
  } finally {
    tf.dispose([g, ...layer.parameters().map(([, v]) => v), ...layer.buffers().map(([, v]) => v)]);
  }
});

Deno.test("ConvExp caps the spectral norm of its kernel at coeff once the estimate has converged", () => {
  const layer = new ConvExp(4, 4, 2, new Rng(3), { initStd: 2, coeff: 0.9, powerIterations: 30 });
  try {
    withTraining([layer], () => layer.effectiveKernel().dispose());
    const k = layer.effectiveKernel(); // evaluation: the stored, converged vectors
    const m = tf.tidy(() => denseMatrix(k, denseIndex({ height: 4, width: 4, channels: 2, kernel: 3 }), 32));
    // Largest singular value by power iteration on M^T M, independently of the layer's estimate.
    let v = tf.ones([32, 1]);
    for (let i = 0; i < 200; i++) {
      const next = tf.tidy(() => {
        const w = tf.matMul(m, tf.matMul(m, v), true, false);
        return tf.div(w, tf.norm(w));
      });
      v.dispose();
      v = next;
    }
    const sigma = tf.tidy(() => tf.norm(tf.matMul(m, v)).dataSync()[0]);
    // 30 power iterations leave the estimate 6e-4 short of the top singular value (measured).
    assert.ok(Math.abs(sigma - 0.9) < 3e-3, `spectral norm ${sigma}, expected 0.9 (kernel drawn larger)`);
    tf.dispose([k, m, v]);
  } finally {
    tf.dispose([...layer.parameters().map(([, v]) => v), ...layer.buffers().map(([, v]) => v)]);
  }
});
