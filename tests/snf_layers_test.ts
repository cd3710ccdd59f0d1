import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { ActNorm } from "../lib/flows/actnorm.ts";
import { GlowCoupling, SplitPrior, Squeeze } from "../lib/flows/glow.ts";
import { Emerging, SquareAutoregressiveConv } from "../lib/flows/emerging.ts";
import { ConvExp } from "../lib/flows/exponential.ts";
import { LearnableLeakyRelu, SmoothLeakyRelu } from "../lib/flows/activations.ts";
import { ExactConv, ExactFC } from "../lib/flows/exact.ts";
import { Dequantize, imagePreprocessing, Logit, Normalize } from "../lib/flows/preprocess.ts";
import { SelfNormFC } from "../lib/flows/selfnorm.ts";
import { SelfNormConv } from "../lib/flows/selfnorm_conv.ts";
import { SplineActivation } from "../lib/flows/spline.ts";
import { Rng } from "../lib/rng.ts";
import { inverse, slogdet } from "../lib/linalg.ts";
import {
  assertClose,
  type BijectorCase,
  checkBijector,
  type CheckOptions,
  type MakeCase,
} from "./helpers/bijector_checks.ts";

await selectBackend("wasm");

const B = 5, D = 6;
const normals = (seed: number, shape: number[], std = 1) =>
  tf.tensor(new Rng(seed).normals(shape.reduce((a, b) => a * b), std), shape);

function vectorCase(bijector: BijectorCase["bijector"], seed: number, std = 1.5): BijectorCase {
  return { bijector, x: normals(seed + 50, [B, D], std) };
}

/** ActNorm initialised from a seed-dependent batch, then evaluated on another one. */
function actNormCase(seed: number, shape: number[]): BijectorCase {
  const layer = new ActNorm(shape[shape.length - 1]);
  const init = tf.add(normals(seed + 7, shape, 2), 0.5);
  layer.initialize(init);
  init.dispose();
  return { bijector: layer, x: normals(seed + 60, shape) };
}

/** A 3 x 3 x 2 image batch (D = 18) for the convolutional layers. */
const IMG = [B, 3, 3, 2];
const geometry = (kernel: number) => ({ height: 3, width: 3, channels: 2, kernel });
const imageCase = (bijector: BijectorCase["bijector"], seed: number): BijectorCase => ({
  bijector,
  x: normals(seed + 80, IMG),
});

const TABLE: Record<string, [MakeCase, CheckOptions?]> = {
  "ExactConv 3x3 (dense LU log-det)": [
    (s) => imageCase(new ExactConv(geometry(3), new Rng(s), { noise: 0.2 }), s),
  ],
  "ExactConv 1x1 (Glow, orthogonal init)": [(s) => imageCase(new ExactConv(geometry(1), new Rng(s)), s)],
  "SelfNormConv 3x3 (evaluation mode)": [
    (s) => imageCase(new SelfNormConv(geometry(3), new Rng(s), { noise: 0.2, inverseNoise: 0.1 }), s),
    { trainableAll: false },
  ],
  "ExactFC": [(s) => vectorCase(new ExactFC(D, new Rng(s), { noise: 0.3 }), s)],
  // Evaluation mode (exact log-det): R is used only by training and approximate sampling.
  "SelfNormFC (evaluation mode)": [
    (s) => vectorCase(new SelfNormFC(D, new Rng(s), { noise: 0.3, inverseNoise: 0.1 }), s),
    { trainableAll: false },
  ],
  "SmoothLeakyRelu(0.3)": [(s) => vectorCase(new SmoothLeakyRelu({ alpha: 0.3 }), s, 3)],
  "LearnableLeakyRelu": [(s) => vectorCase(new LearnableLeakyRelu(0.4 - s), s)],
  "SplineActivation (per value, x beyond the tails too)": [
    (s) => vectorCase(new SplineActivation(D, new Rng(s), { tailBound: 3, initStd: 0.5 }), s, 2.5),
  ],
  "SplineActivation (shared)": [
    (s) =>
      vectorCase(new SplineActivation(D, new Rng(s), { individual: false, bins: 4, initStd: 0.5 }), s, 3),
  ],
  "SquareAutoregressiveConv": [(s) => imageCase(new SquareAutoregressiveConv(2, new Rng(s)), s)],
  "Emerging (1x1, two autoregressive 2x2, flips)": [(s) => imageCase(new Emerging(3, 3, 2, new Rng(s)), s)],
  "ConvExp (evaluation: 13 terms)": [(s) => imageCase(new ConvExp(3, 3, 2, new Rng(s), { initStd: 0.1 }), s)],
  "GlowCoupling (output layer drawn, not zero)": [
    (s) => ({ bijector: new GlowCoupling(4, 8, new Rng(s), false), x: normals(s + 91, [B, 2, 2, 4]) }),
  ],
  "ActNorm on vectors": [(s) => actNormCase(s, [B, D])],
  "ActNorm on 3x3x2 images": [(s) => actNormCase(s, [B, 3, 3, 2])],
  "Normalize": [(s) => vectorCase(new Normalize(-1, 3), s)],
  "Logit": [(s) => ({ bijector: new Logit(), x: tf.sigmoid(normals(s + 70, [B, D])) })],
};

Deno.test("SNF layers satisfy the bijector checks", async (t) => {
  for (const [name, [make, opts]] of Object.entries(TABLE)) await checkBijector(t, name, make, opts);
});

Deno.test("ActNorm initialises to zero mean and unit variance per channel on its first batch", () => {
  const layer = new ActNorm(2);
  const x = tf.tidy(() =>
    tf.add(tf.mul(normals(1, [64, 2, 2, 2]), tf.tensor1d([3, 0.5])), tf.tensor1d([1, -2]))
  );
  try {
    const y = tf.tidy(() => layer.forward(x).y.reshape([-1, 2]));
    const { mean, variance } = tf.moments(y, 0);
    const n = y.shape[0];
    mean.dataSync().forEach((m) => assert.ok(Math.abs(m) < 1e-5, `mean ${m}`));
    variance.dataSync().forEach((v) => assert.ok(Math.abs((v * n) / (n - 1) - 1) < 1e-4, `variance ${v}`));
    assert.equal(layer.isInitialized, true);
    // A second batch must not re-initialise the layer.
    const before = layer.translation.dataSync().slice();
    tf.tidy(() => void layer.forward(tf.mul(x, 5)));
    assert.deepEqual(layer.translation.dataSync(), before);
    tf.dispose([y, mean, variance]);
  } finally {
    tf.dispose([x, layer.translation, layer.logScale, layer.initialized]);
  }
});

Deno.test("SmoothLeakyRelu inverse by Newton recovers large negative and positive inputs", () => {
  const f = new SmoothLeakyRelu();
  const x = tf.tensor2d([[-40, -5, -0.1, 0, 0.1, 5, 40]]);
  const back = tf.tidy(() => f.inverse(f.forward(x).y).y.dataSync());
  x.dataSync().forEach((v, i) =>
    assert.ok(Math.abs(back[i] - v) < 1e-4 * (1 + Math.abs(v)), `${back[i]} vs ${v}`)
  );
  x.dispose();
});

Deno.test("Dequantize adds noise in [0, 1) that floor() removes; the image chain reaches the real line", () => {
  const pixels = tf.tensor2d([[0, 1, 254, 255], [17, 128, 0, 255]]);
  try {
    const dq = new Dequantize(new Rng(3));
    const y = tf.tidy(() => dq.forward(pixels).y);
    const diff = tf.tidy(() => tf.sub(y, pixels).dataSync());
    assert.ok(diff.every((u) => u >= 0 && u < 1), `noise outside [0, 1): ${diff}`);
    assert.ok(new Set(diff).size > 1, "noise is constant");
    assert.deepEqual(tf.tidy(() => dq.inverse(y).y.dataSync()), pixels.dataSync());
    y.dispose();
    // Whole chain: finite latents; its log-det minus the deterministic part is Logit's own.
    let v = pixels as tf.Tensor;
    let logDet = 0;
    for (const layer of imagePreprocessing(new Rng(4))) {
      const out = layer.forward(v);
      if (v !== pixels) v.dispose();
      v = out.y;
      logDet += out.logDet.dataSync()[0];
      out.logDet.dispose();
    }
    assert.ok(v.dataSync().every(Number.isFinite), "non-finite latent");
    assert.ok(Number.isFinite(logDet));
    v.dispose();
  } finally {
    pixels.dispose();
  }
});

Deno.test("GlowCoupling starts as the identity (zero-initialised output layer)", () => {
  const c = new GlowCoupling(4, 8, new Rng(5));
  const x = normals(6, [B, 2, 2, 4]);
  const out = c.forward(x);
  try {
    assert.deepEqual(out.y.dataSync(), x.dataSync());
    assert.ok(out.logDet.dataSync().every((v) => v === 0));
  } finally {
    tf.dispose([x, out.y, out.logDet, ...c.parameters().map(([, v]) => v)]);
  }
});

Deno.test("SplitPrior halves the channels, adds log N(x2) and samples the other half back", () => {
  const sp = new SplitPrior(4, 8, new Rng(7), new Rng(8));
  const x = normals(9, [B, 2, 2, 4]);
  try {
    const { y, logDet } = sp.forward(x);
    assert.deepEqual(y.shape, [B, 2, 2, 2]);
    // Zero-initialised coupling: logDet is exactly log N(x2; 0, I) of the second half.
    const x2 = tf.split(x, 2, 3)[1];
    const expected = tf.tidy(() =>
      tf.sum(tf.square(x2).reshape([B, -1]), 1).mul(-0.5).sub(4 * Math.log(2 * Math.PI))
    );
    logDet.dataSync().forEach((v, i) => assert.ok(Math.abs(v - expected.dataSync()[i]) < 1e-4));
    const back = sp.inverse(y);
    assert.deepEqual(back.y.shape, x.shape);
    // The first half comes back unchanged; the second is a fresh draw.
    const [b1, b2] = tf.split(back.y, 2, 3);
    assert.deepEqual(b1.dataSync(), tf.split(x, 2, 3)[0].dataSync());
    assert.notDeepEqual(b2.dataSync(), x2.dataSync());
    tf.dispose([y, logDet, x2, expected, back.y, back.logDet, b1, b2]);
  } finally {
    tf.dispose([x, ...sp.parameters().map(([, v]) => v)]);
  }
});

Deno.test("Squeeze moves each 2 x 2 block into channels and back (shape changes, so not in the table)", () => {
  const sq = new Squeeze();
  // One image 4 x 2 x 1 with values 0..7 (row-major).
  const x = tf.tensor4d([0, 1, 2, 3, 4, 5, 6, 7], [1, 4, 2, 1]);
  const { y, logDet } = sq.forward(x);
  try {
    assert.deepEqual(y.shape, [1, 2, 1, 4]);
    assert.deepEqual(Array.from(y.dataSync()), [0, 1, 2, 3, 4, 5, 6, 7]); // block (0,0) = rows 0-1
    assert.deepEqual(Array.from(logDet.dataSync()), [0]);
    const big = normals(10, [B, 4, 6, 3]);
    const back = tf.tidy(() => sq.inverse(sq.forward(big).y).y);
    assert.deepEqual(back.dataSync(), big.dataSync());
    tf.dispose([big, back]);
    assert.throws(() => sq.forward(tf.zeros([1, 3, 2, 1])), /even H and W/);
  } finally {
    tf.dispose([x, y, logDet]);
  }
});

Deno.test("ExactConv log-det and its kernel gradient equal those through the dense matrix's slogdet", async (t) => {
  for (const k of [1, 3]) {
    await t.step(`${k} x ${k}`, () => {
      const conv = new ExactConv(geometry(k), new Rng(5), { noise: 0.2 });
      try {
        tf.tidy(() => {
          const got = tf.variableGrads(() => conv.logAbsDet(conv.weight), [conv.weight]);
          const want = tf.variableGrads(() => slogdet(conv.dense()), [conv.weight]);
          // Measured (wasm): log-dets identical; kernel gradients 6.2e-8 (1 x 1) and 9.8e-8 (3 x 3) of
          // 1 + |gradient| apart (ConvLu sums M^-T onto the taps in float64, the dense path in float32).
          assertClose(got.value, want.value, 1e-7, "log-det");
          assertClose(got.grads[conv.weight.name], want.grads[conv.weight.name], 5e-7, "kernel gradient");
        });
      } finally {
        conv.weight.dispose();
        conv.bias?.dispose();
      }
    });
  }
});

Deno.test("ExactConv inverse and its kernel gradient equal those through the dense matrix's inverse", async (t) => {
  for (const k of [1, 3]) {
    await t.step(`${k} x ${k}`, () => {
      const conv = new ExactConv(geometry(k), new Rng(2), { noise: 0.2 });
      const z = normals(3, IMG), proj = normals(4, IMG);
      try {
        tf.tidy(() => {
          // The reference: x = M^{-1} (z - b) through the differentiable dense matrix and the LU inverse op.
          const viaDense = () => {
            const rows = tf.sub(z, conv.bias!).reshape([B, 18]);
            return tf.matMul(rows, tf.transpose(inverse(conv.dense()))).reshape(IMG);
          };
          const loss = (f: () => tf.Tensor) => () => tf.sum(tf.mul(f(), proj)) as tf.Scalar;
          const got = tf.variableGrads(loss(() => conv.inverse(z).y), [conv.weight]);
          const want = tf.variableGrads(loss(viaDense), [conv.weight]);
          // Measured (wasm): the inverses identical; the gradients 2.6e-7 of 1 + |gradient| apart for k = 1
          // (the 1 x 1 path reshapes before the products), identical for k = 3.
          assertClose(conv.inverse(z).y, viaDense(), 1e-7, "inverse");
          assertClose(got.grads[conv.weight.name], want.grads[conv.weight.name], 1e-6, "kernel gradient");
        });
      } finally {
        for (const v of [z, proj]) v.dispose();
        conv.weight.dispose();
        conv.bias?.dispose();
      }
    });
  }
});
