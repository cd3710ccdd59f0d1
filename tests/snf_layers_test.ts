import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { ActNorm } from "../lib/flows/actnorm.ts";
import { LearnableLeakyRelu, SmoothLeakyRelu } from "../lib/flows/activations.ts";
import { ExactFC } from "../lib/flows/exact.ts";
import { Dequantize, imagePreprocessing, Logit, Normalize } from "../lib/flows/preprocess.ts";
import { SelfNormFC } from "../lib/flows/selfnorm.ts";
import { SplineActivation } from "../lib/flows/spline.ts";
import { Rng } from "../lib/rng.ts";
import {
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

const TABLE: Record<string, [MakeCase, CheckOptions?]> = {
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
