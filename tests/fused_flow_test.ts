import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { EsnFlow } from "../lib/dynamic/esn_flow.ts";
import { Rng } from "../lib/rng.ts";

const D = 5, N = 9, HIDDEN = 6, ROWS = 7;

/** Largest |a - b| relative to max(|b|, 1e-3) over the entries of two tensors of the same shape. */
function relErr(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const av = a.dataSync(), bv = b.dataSync();
  let scale = 1e-3, worst = 0;
  for (const v of bv) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < av.length; i++) worst = Math.max(worst, Math.abs(av[i] - bv[i]));
  return worst / scale;
}

/**
 * Value and gradients (every parameter, the frames and the context projection) of a weighted sum of
 * `log p(x | h)` by `logProb` of the flow, which is either the fused op or autodiff of the composition.
 */
function valueAndGrads(flow: EsnFlow, x: tf.Tensor2D, h: tf.Tensor2D, weights: tf.Tensor1D, fused: boolean) {
  const vars = flow.parameters().map(([, v]) => v);
  return tf.tidy(() => {
    const hc = flow.projectContext(h);
    const f = (xv: tf.Tensor, hcv: tf.Tensor) => {
      const lp = fused
        ? flow.logProbProjected(xv as tf.Tensor2D, hcv as tf.Tensor2D)
        : flow.logProbComposed(xv as tf.Tensor2D, hcv as tf.Tensor2D);
      return tf.sum(tf.mul(lp, weights)) as tf.Scalar;
    };
    const { value, grads } = tf.variableGrads(() => f(x, flow.projectContext(h)), vars);
    const [dx, dhc] = tf.grads(f)([x, hc]);
    const logp = fused ? flow.logProbProjected(x, hc) : flow.logProbComposed(x, hc);
    return { value, logp, dx, dhc, grads: vars.map((v) => grads[v.name]) };
  });
}

Deno.test("the fused flow op has the values and gradients of autodiff through the composed layers", async (t) => {
  for (const backend of ["wasm", "cpu"] as const) {
    await selectBackend(backend);
    for (const toeplitz of [true, false]) {
      for (const [numFlowLayers, numHiddenLayers] of [[1, 1], [3, 2], [2, 3]]) {
        await t.step(
          `${backend}, toeplitz ${toeplitz}, ${numFlowLayers} layers x ${numHiddenLayers} hidden`,
          () => {
            const rng = new Rng(`fused:${toeplitz}:${numFlowLayers}:${numHiddenLayers}`);
            const flow = new EsnFlow(
              { frameDim: D, contextDim: N, hiddenDim: HIDDEN, numHiddenLayers, numFlowLayers, toeplitz },
              rng,
            );
            // A rescale away from its initial 1, and rows weighted unequally (the gradient g per row varies).
            flow.rescale.assign(tf.tensor1d(Array.from({ length: D }, (_, i) => 0.5 + 0.2 * i)));
            const x = tf.tensor2d(rng.normals(ROWS * D), [ROWS, D]);
            const h = tf.tensor2d(rng.normals(ROWS * N, 0.7), [ROWS, N]);
            const weights = tf.tensor1d(Array.from({ length: ROWS }, (_, i) => (i % 3) - 0.7));
            const before = tf.memory().numTensors;
            const fused = valueAndGrads(flow, x, h, weights, true);
            const ref = valueAndGrads(flow, x, h, weights, false);
            assert.ok(relErr(fused.logp, ref.logp) < 1e-5, `log p: ${relErr(fused.logp, ref.logp)}`);
            assert.ok(relErr(fused.value, ref.value) < 1e-5);
            assert.ok(relErr(fused.dx, ref.dx) < 1e-4, `d/dx: ${relErr(fused.dx, ref.dx)}`);
            assert.ok(relErr(fused.dhc, ref.dhc) < 1e-4, `d/dhc: ${relErr(fused.dhc, ref.dhc)}`);
            const names = flow.parameters().map(([n]) => n);
            fused.grads.forEach((g, i) => {
              assert.ok(g, `no gradient for ${names[i]}`);
              const e = relErr(g, ref.grads[i]);
              assert.ok(e < 1e-4, `d/d${names[i]}: relative error ${e}`);
              assert.ok(tf.tidy(() => tf.max(tf.abs(g)).dataSync()[0]) > 0, `zero gradient for ${names[i]}`);
            });
            const made = [fused, ref].flatMap((r) => [r.value, r.logp, r.dx, r.dhc, ...r.grads]);
            assert.equal(tf.memory().numTensors, before + made.length, "the op leaks tensors");
            tf.dispose([...made, x, h, weights]);
            flow.parameters().forEach(([, v]) => v.dispose());
          },
        );
      }
    }
  }
});
