import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { SequenceBatch } from "../lib/data/sequences.ts";
import { ContextGmm } from "../lib/dynamic/gmm.ts";
import { RecurrentEncoder } from "../lib/dynamic/rnn.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

Deno.test("ContextGmm.logProb() is the log density of its diagonal mixture", () => {
  const gmm = new ContextGmm({
    frameDim: 3,
    contextDim: 5,
    numComponents: 4,
    hiddenDim: 7,
    numHiddenLayers: 2,
  }, new Rng(1));
  const r = new Rng(2);
  const x = tf.tensor2d(r.normals(6 * 3), [6, 3]), h = tf.tensor2d(r.normals(6 * 5), [6, 5]);
  try {
    const got = tf.tidy(() => gmm.logProb(x, h).dataSync());
    const { logW, mu, sigma } = gmm.params(h);
    const [w, m, s, xs] = [logW, mu, sigma, x].map((t) => t.dataSync());
    for (const t of [logW, mu, sigma]) t.dispose();
    for (let i = 0; i < 6; i++) {
      let p = 0;
      for (let k = 0; k < 4; k++) {
        let lp = w[i * 4 + k];
        for (let j = 0; j < 3; j++) {
          const o = (i * 4 + k) * 3 + j, u = (xs[i * 3 + j] - m[o]) / s[o];
          lp += -0.5 * u * u - Math.log(s[o]) - 0.5 * Math.log(2 * Math.PI);
        }
        p += Math.exp(lp);
      }
      // Measured: 2.9e-7 off at most (5.3e-8 of 1 + |log p|); 1e-6 leaves 19x.
      assert.ok(Math.abs(got[i] - Math.log(p)) <= 1e-6 * (1 + Math.abs(Math.log(p))), `row ${i}`);
      assert.ok(s.every((v) => v >= 1e-3));
    }
  } finally {
    for (const t of [x, h]) t.dispose();
    disposeModule(gmm);
  }
});

Deno.test("a 1-D ContextGmm density integrates to ~1 on a grid", () => {
  const gmm = new ContextGmm({
    frameDim: 1,
    contextDim: 4,
    numComponents: 3,
    hiddenDim: 6,
    numHiddenLayers: 1,
  }, new Rng(3));
  const step = 0.01, lo = -30, k = 6000;
  try {
    const total = tf.tidy(() => {
      const grid = tf.tensor2d(Float32Array.from({ length: k }, (_, i) => lo + (i + 0.5) * step), [k, 1]);
      const h = tf.tile(tf.tensor2d(new Rng(4).normals(4), [1, 4]), [k, 1]) as tf.Tensor2D;
      return gmm.logProb(grid, h).exp().sum().mul(step).dataSync()[0];
    });
    assert.ok(Math.abs(total - 1) < 1e-3, `integral ${total}`);
  } finally {
    disposeModule(gmm);
  }
});

Deno.test("ContextGmm.sample() draws from the mixture (mean and variance) reproducibly", async () => {
  const gmm = new ContextGmm({
    frameDim: 2,
    contextDim: 3,
    numComponents: 2,
    hiddenDim: 5,
    numHiddenLayers: 1,
  }, new Rng(5));
  const n = 4000;
  const h = tf.tile(tf.tensor2d([[0.3, -0.2, 0.5]]), [n, 1]) as tf.Tensor2D;
  try {
    const x = await gmm.sample(h, new Rng(6));
    const xs = x.dataSync();
    const again = await gmm.sample(h, new Rng(6));
    assert.deepEqual(again.dataSync(), xs);
    for (const t of [x, again]) t.dispose();
    const { logW, mu, sigma } = gmm.params(h.slice([0, 0], [1, 3]) as tf.Tensor2D);
    const [w, m, s] = [logW, mu, sigma].map((t) => t.dataSync());
    for (const t of [logW, mu, sigma]) t.dispose();
    for (let j = 0; j < 2; j++) {
      const mean = Math.exp(w[0]) * m[j] + Math.exp(w[1]) * m[2 + j];
      const second = Math.exp(w[0]) * (s[j] ** 2 + m[j] ** 2) +
        Math.exp(w[1]) * (s[2 + j] ** 2 + m[2 + j] ** 2);
      let em = 0, e2 = 0;
      for (let i = 0; i < n; i++) {
        em += xs[i * 2 + j] / n;
        e2 += xs[i * 2 + j] ** 2 / n;
      }
      const sd = Math.sqrt(second - mean * mean);
      assert.ok(Math.abs(em - mean) < 4 * sd / Math.sqrt(n), `dim ${j}: mean ${em} vs ${mean}`);
      assert.ok(Math.abs(e2 - mean * mean - sd * sd) < 0.15 * sd * sd, `dim ${j}: variance`);
    }
  } finally {
    h.dispose();
    disposeModule(gmm);
  }
});

/** PyTorch's GRU / tanh-RNN step on the host from the encoder's weights (gate order r, u, n). */
function referenceStep(enc: RecurrentEncoder, h: number[], x: number[]): number[] {
  const n = enc.stateDim, g = enc.cell === "gru" ? 3 : 1;
  const [wi, bi, wh, bh] = [enc.inputWeight, enc.inputBias, enc.stateWeight, enc.stateBias].map((v) =>
    v.dataSync()
  );
  const proj = (w: ArrayLike<number>, b: ArrayLike<number>, v: number[]) =>
    Array.from({ length: g * n }, (_, o) => v.reduce((s, vi, i) => s + vi * w[i * g * n + o], b[o]));
  const u = proj(wi, bi, x), v = proj(wh, bh, h);
  if (g === 1) return u.map((e, i) => Math.tanh(e + v[i]));
  return h.map((hi, i) => {
    const r = sigmoid(u[i] + v[i]), z = sigmoid(u[n + i] + v[n + i]);
    const cand = Math.tanh(u[2 * n + i] + r * v[2 * n + i]);
    return (1 - z) * cand + z * hi;
  });
}

Deno.test("RecurrentEncoder states follow the GRU / RNN equations, h_0 = 0, packed order", async (t) => {
  for (const cell of ["gru", "rnn"] as const) {
    await t.step(cell, () => {
      const enc = new RecurrentEncoder({ frameDim: 2, stateDim: 4, cell }, new Rng(7));
      const r = new Rng(8);
      const seqs = [r.normals(3 * 2), r.normals(1 * 2), r.normals(4 * 2)];
      const batch = SequenceBatch.fromSequences(seqs, 2);
      try {
        const states = tf.tidy(() => enc.states(batch).dataSync());
        assert.equal(states.length, batch.frames * 4);
        seqs.forEach((s, b) => {
          let h = [0, 0, 0, 0];
          for (let f = 0; f < s.length / 2; f++) {
            const got = Array.from(
              states.subarray((batch.offsets[b] + f) * 4, (batch.offsets[b] + f + 1) * 4),
            );
            got.forEach((v, i) =>
              // Measured: 6.1e-8 off at most (states in (-1, 1)); 1e-6 leaves 16x.
              assert.ok(Math.abs(v - h[i]) <= 1e-6, `seq ${b} frame ${f}: ${got} vs ${h}`)
            );
            h = referenceStep(enc, h, Array.from(s.subarray(f * 2, f * 2 + 2)));
          }
        });
        const stepped = tf.tidy(() =>
          enc.step(tf.tensor2d([[0.1, -0.3, 0.2, 0.4]]), tf.tensor2d([[0.5, -1]])).dataSync()
        );
        referenceStep(enc, [0.1, -0.3, 0.2, 0.4], [0.5, -1]).forEach((v, i) =>
          assert.ok(Math.abs(stepped[i] - v) <= 1e-6, `entry ${i}: ${stepped[i]} vs ${v}`) // measured 2.8e-8
        );
      } finally {
        batch.dispose();
        disposeModule(enc);
      }
    });
  }
});

Deno.test("RecurrentEncoder rejects a bad cell or sizes", () => {
  assert.throws(
    () => new RecurrentEncoder({ frameDim: 2, stateDim: 4, cell: "lstm" as "gru" }, new Rng(0)),
    /gru or rnn, got "lstm"/,
  );
  assert.throws(
    () => new RecurrentEncoder({ frameDim: 2, stateDim: 0, cell: "gru" }, new Rng(0)),
    /got 2 and 0/,
  );
});
