import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { inverse, luFactor, slogdet } from "../lib/linalg.ts";
import { Flow } from "../lib/flows/flow.ts";
import { StandardNormal } from "../lib/flows/normal.ts";
import { SelfNormFC, SelfNormFlowModel, type SelfNormOptions } from "../lib/flows/selfnorm.ts";
import { SelfNormConv } from "../lib/flows/selfnorm_conv.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

const D = 4, N = 6;

/** A tensor's values as float64 (one array type for the reference computations). */
const arr = (t: tf.Tensor) => Float64Array.from(t.dataSync());
/** The paper's W and R of a layer (stored transposed), and the gradients for them. */
const paperW = (l: SelfNormFC) => tr(arr(l.weight), l.dim, l.dim);
const paperR = (l: SelfNormFC) => tr(arr(l.inverseWeight), l.dim, l.dim);

/** Asserts two arrays agree within `tol * (1 + |expected|)` elementwise. */
function assertNear(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]) / (1 + Math.abs(expected[i]));
    assert.ok(err <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]} (rel. error ${err} > ${tol})`);
  }
}

/** Plain float64 matrices, row-major, for the independent reference computations. */
const mm = (a: ArrayLike<number>, b: ArrayLike<number>, n: number, k: number, m: number) => {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < k; l++) for (let j = 0; j < m; j++) out[i * m + j] += a[i * k + l] * b[l * m + j];
  }
  return out;
};
const tr = (a: ArrayLike<number>, n: number, m: number) => {
  const out = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) out[j * n + i] = a[i * m + j];
  return out;
};

interface Setup {
  layer: SelfNormFC;
  model: SelfNormFlowModel;
  x: tf.Tensor2D;
  dispose(): void;
}

function setup(opts: SelfNormOptions, seed = 1): Setup {
  const layer = new SelfNormFC(D, new Rng(seed), { noise: 0.3, inverseNoise: 0.2, ...opts });
  const model = new SelfNormFlowModel(new Flow(layer, new StandardNormal([D])), [layer]);
  const x = tf.tensor2d(new Rng(seed + 100).normals(N * D), [N, D]);
  return { layer, model, x, dispose: () => (tf.dispose([x, ...layer.parameters().map(([, v]) => v)])) };
}

/** Gradients of the model's training loss for W, b, R (in that order) as Float32Arrays. */
function lossGrads(s: Setup): Float32Array[] {
  const vars = [s.layer.weight, s.layer.bias!, s.layer.inverseWeight];
  return tf.tidy(() => {
    const { grads } = tf.variableGrads(() => s.model.loss({ x: s.x, size: N, dispose() {} }), vars);
    return vars.map((v) => (grads[v.name]?.dataSync() ?? new Float32Array(v.size)) as Float32Array);
  });
}

Deno.test("SelfNormFC training gradient matches the self-normalized formula", async (t) => {
  await t.step("arbitrary R: dW = 1/2 (delta x^T - R^T), dR = 1/2 (-delta_x (Wx)^T + W^T)", () => {
    const s = setup({ addReconGrad: false });
    try {
      const [gw, gb, gr] = lossGrads(s);
      const x = arr(s.x), w = paperW(s.layer), b = arr(s.layer.bias!), r = paperR(s.layer);
      // Loss = mean_n 1/2 ||z_n||^2 + const, so delta = Z / N.
      const wx = mm(x, tr(w, D, D), N, D, D);
      const delta = wx.map((v, i) => (v + b[i % D]) / N);
      const deltaX = mm(delta, w, N, D, D);
      const dW = mm(tr(delta, N, D), x, D, N, D).map((v, i) => 0.5 * (v - tr(r, D, D)[i]));
      const dR = mm(tr(deltaX, N, D), wx, D, N, D).map((v, i) => 0.5 * (-v + tr(w, D, D)[i]));
      const db = Array.from(
        { length: D },
        (_, j) => delta.filter((_, i) => i % D === j).reduce((a, c) => a + c),
      );
      assertNear(tr(gw, D, D), dW, 1e-5, "dW");
      assertNear(tr(gr, D, D), dR, 1e-5, "dR");
      assertNear(gb, db, 1e-5, "db");
    } finally {
      s.dispose();
    }
  });

  await t.step("R = W^{-1}: equals the exact gradient of 1/2 (L_f(W) + L_g(R))", () => {
    const s = setup({ addReconGrad: false }, 2);
    try {
      // The stored R^T = (W^{-1})^T is the inverse of the stored W^T.
      const wInv = luFactor(arr(s.layer.weight), D).inverse();
      s.layer.inverseWeight.assign(tf.tensor2d(Float32Array.from(wInv), [D, D]));
      const snf = lossGrads(s);
      const base = new StandardNormal([D]);
      const { x } = s;
      // L_f: z = W x + b with log|det W|; L_g: z = R^{-1} x + b with log|det R^{-1}| = -log|det R|.
      // In the stored variables V = W^T, U = R^T, for rows: z_f = x V + b, z_g = x U^{-1} + b.
      const exact = tf.tidy(() => {
        const f = (v: tf.Tensor2D, b: tf.Tensor, u: tf.Tensor2D) => {
          const lf = tf.neg(tf.mean(base.logProb(tf.add(tf.matMul(x, v), b)))).sub(slogdet(v));
          const zg = tf.add(tf.matMul(x, inverse(u)), b);
          const lg = tf.neg(tf.mean(base.logProb(zg))).add(slogdet(u));
          return tf.mul(tf.add(lf, lg), 0.5) as tf.Scalar;
        };
        const g = tf.grads((v, b, u) => f(v as tf.Tensor2D, b, u as tf.Tensor2D));
        return g([s.layer.weight, s.layer.bias!, s.layer.inverseWeight]).map((t) => t.dataSync());
      });
      for (const [i, name] of ["dW", "db", "dR"].entries()) assertNear(snf[i], exact[i], 1e-4, name);
    } finally {
      s.dispose();
    }
  });

  await t.step("modifiedGrad off: the training gradient of W is the exact one, W^{-T} included", () => {
    const s = setup({ addReconGrad: false, modifiedGrad: false }, 3);
    try {
      const [gw] = lossGrads(s);
      const x = arr(s.x), w = paperW(s.layer), b = arr(s.layer.bias!);
      const delta = mm(x, tr(w, D, D), N, D, D).map((v, i) => (v + b[i % D]) / N);
      const wInvT = tr(luFactor(w, D).inverse(), D, D);
      assertNear(tr(gw, D, D), mm(tr(delta, N, D), x, D, N, D).map((v, i) => v - wInvT[i]), 1e-4, "dW");
    } finally {
      s.dispose();
    }
  });
});

Deno.test("SelfNormFC reconstruction penalty is lambda ||x - R W x||^2 per example", async (t) => {
  for (const sym of [false, true]) {
    await t.step(`symReconGrad ${sym}: loss value and its gradient for R`, () => {
      const lambda = 0.7;
      const s = setup({ reconLossWeight: lambda, symReconGrad: sym }, 4);
      const plain = setup({ addReconGrad: false }, 4);
      try {
        const batch = { x: s.x, size: N, dispose() {} };
        const extra = tf.tidy(() => s.model.loss(batch).sub(plain.model.loss(batch)).dataSync()[0]);
        const x = arr(s.x), w = paperW(s.layer), r = paperR(s.layer);
        const z = mm(x, tr(w, D, D), N, D, D);
        const xHat = mm(z, tr(r, D, D), N, D, D);
        let rec = x.reduce((acc, v, i) => acc + (v - xHat[i]) ** 2, 0);
        if (sym) {
          const zHat = mm(xHat, tr(w, D, D), N, D, D);
          rec = (rec + z.reduce((acc, v, i) => acc + (v - zHat[i]) ** 2, 0)) / 2;
        }
        assertNear([extra], [(lambda * rec) / N], 1e-4, "penalty");
        if (!sym) {
          // d/dR of lambda/N sum ||x - R z||^2 = -2 lambda/N sum_n (x_n - R z_n) z_n^T.
          const e = x.map((v, i) => v - xHat[i]);
          const dRec = mm(tr(e, N, D), z, D, N, D).map((v) => (-2 * lambda * v) / N);
          const gr = lossGrads(s)[2], gr0 = lossGrads(plain)[2];
          assertNear(tr(gr.map((v, i) => v - gr0[i]), D, D), dRec, 1e-4, "dR of the penalty");
        }
      } finally {
        s.dispose();
        plain.dispose();
      }
    });
  }
});

Deno.test("SelfNormFC evaluation is exact and sampling can use R", async (t) => {
  const s = setup({}, 5);
  try {
    await t.step("logProb (training off) = log N(Wx + b) + log|det W|; training log-det is 0", () => {
      const w = arr(s.layer.weight);
      const expected = tf.tidy(() =>
        new StandardNormal([D]).logProb(s.layer.forward(s.x).y).add(luFactor(w, D).slogdet().logAbsDet)
          .dataSync()
      );
      const got = tf.tidy(() => s.model.logProb({ x: s.x, size: N, dispose() {} }).dataSync());
      assertNear(got, expected, 1e-5, "logProb");
      s.layer.training = true;
      const ld = tf.tidy(() => s.layer.forward(s.x).logDet.dataSync());
      s.layer.training = false;
      const rec = tf.tidy(() => s.layer.reconLoss(s.x).dataSync());
      assertNear(ld, rec.map((v) => -v), 1e-6, "training logDet = -penalty");
    });
    await t.step("approxInverse: x = R (z - b); exact inverse otherwise", () => {
      const z = tf.tensor2d(new Rng(9).normals(N * D), [N, D]);
      try {
        const exact = tf.tidy(() => s.layer.forward(s.layer.inverse(z).y).y.dataSync());
        assertNear(exact, arr(z), 1e-5, "forward(inverse(z))");
        s.layer.approxInverse = true;
        const approx = tf.tidy(() => s.layer.inverse(z).y.dataSync());
        s.layer.approxInverse = false;
        const r = paperR(s.layer), b = arr(s.layer.bias!);
        const ref = mm(arr(z).map((v, i) => v - b[i % D]), tr(r, D, D), N, D, D);
        assertNear(approx, ref, 1e-5, "R (z - b)");
      } finally {
        z.dispose();
      }
    });
  } finally {
    s.dispose();
  }
});

Deno.test("SelfNormFC training fits a Gaussian and learns R ~ W^{-1}", () => {
  const layer = new SelfNormFC(3, new Rng(11));
  const model = new SelfNormFlowModel(new Flow(layer, new StandardNormal([3])), [layer]);
  // Data x = A e with e ~ N(0, I): the optimum has |det W| = 1/|det A|.
  const a = [2, 0, 0, 0.5, 0.7, 0, -0.3, 0.4, 1.5];
  const rng = new Rng(12);
  const data = tf.tidy(() =>
    tf.matMul(tf.tensor2d(rng.normals(512 * 3), [512, 3]), tf.tensor2d(a, [3, 3]), false, true)
  );
  const batch = { x: data, size: 512, dispose() {} };
  const opt = tf.train.adam(0.02);
  const nll = () => tf.tidy(() => -tf.mean(model.logProb(batch)).dataSync()[0]);
  const start = nll();
  for (let i = 0; i < 300; i++) tf.tidy(() => void opt.minimize(() => model.loss(batch)));
  const end = nll();
  // Entropy of N(0, A A^T) is the best achievable NLL.
  const entropy = 1.5 * Math.log(2 * Math.PI * Math.E) + luFactor(a, 3).slogdet().logAbsDet;
  assert.ok(end < start - 0.3, `NLL did not decrease enough: ${start} -> ${end}`);
  assert.ok(end < entropy + 0.05, `NLL ${end} is not near the entropy ${entropy}`);
  const rw = mm(paperR(layer), paperW(layer), 3, 3, 3);
  assertNear(rw, [1, 0, 0, 0, 1, 0, 0, 0, 1], 0.02, "R W");
  opt.dispose();
  tf.dispose([data, ...layer.parameters().map(([, v]) => v)]);
});

Deno.test("SelfNormConv training gradient is the dense self-normalized gradient collected onto the taps", () => {
  const geo = { height: 3, width: 3, channels: 2, kernel: 3 }, d = 18, n = 4, taps = 36;
  const layer = new SelfNormConv(geo, new Rng(21), { noise: 0.2, inverseNoise: 0.2, addReconGrad: false });
  const model = new SelfNormFlowModel(new Flow(layer, new StandardNormal([3, 3, 2])), [layer]);
  const x = tf.tensor4d(new Rng(22).normals(n * d), [n, 3, 3, 2]);
  /** The D x D matrix of the convolution with `kernel`, column j = conv(e_j): independent of the layer. */
  const dense = (kernel: tf.Tensor) => {
    const cols = tf.tidy(() =>
      tf.conv2d(tf.eye(d).reshape([d, 3, 3, 2]) as tf.Tensor4D, kernel as tf.Tensor4D, 1, "same")
    );
    const out = tr(arr(cols), d, d);
    cols.dispose();
    return out;
  };
  /** <G, M(e_t)> for every tap t: the gradient of tr(G^T M(K)) for the linear map K -> M(K). */
  const collect = (g: Float64Array) =>
    Array.from({ length: taps }, (_, t) => {
      const unit = tf.tidy(() => tf.oneHot(t, taps).reshape([3, 3, 2, 2]).toFloat());
      const m = dense(unit);
      unit.dispose();
      return m.reduce((acc, v, i) => acc + v * g[i], 0);
    });
  try {
    const vars = [layer.weight, layer.inverseWeight];
    const { value, grads } = tf.variableGrads(() => model.loss({ x, size: n, dispose() {} }), vars);
    const [gk, gr] = vars.map((v) => arr(grads[v.name]));
    tf.dispose([value, ...Object.values(grads)]);
    const m = dense(layer.weight), mr = dense(layer.inverseWeight), b = arr(layer.bias!);
    const xs = arr(x.reshape([n, d]));
    const mx = mm(xs, tr(m, d, d), n, d, d); // rows W x
    const delta = mx.map((v, i) => (v + b[i % 2]) / n);
    const deltaX = mm(delta, m, n, d, d);
    const dW = mm(tr(delta, n, d), xs, d, n, d).map((v, i) => 0.5 * (v - tr(mr, d, d)[i]));
    const dR = mm(tr(deltaX, n, d), mx, d, n, d).map((v, i) => 0.5 * (-v + tr(m, d, d)[i]));
    assertNear(gk, collect(dW), 1e-4, "dK");
    assertNear(gr, collect(dR), 1e-4, "dR");
  } finally {
    tf.dispose([x, ...layer.parameters().map(([, v]) => v)]);
  }
});
