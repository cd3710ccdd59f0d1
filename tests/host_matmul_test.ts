import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { Rng } from "../lib/rng.ts";
import { hostConstantMatMul } from "../lib/wasm/host_matmul.ts";
import { hostValues, tensorFrom } from "../lib/wasm/tensor_io.ts";

/** Largest |a - b| / (1 + |b|) over two tensors of one shape. */
function maxErr(a: tf.Tensor, b: tf.Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  const [p, q] = [a.dataSync(), b.dataSync()];
  let worst = 0;
  for (let i = 0; i < p.length; i++) worst = Math.max(worst, Math.abs(p[i] - q[i]) / (1 + Math.abs(q[i])));
  return worst;
}

/** Value and `d/dw` of `sum(proj * (a w))` by `f`. */
function valueAndGrad(
  f: (a: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D,
  a: tf.Tensor2D,
  w: tf.Tensor2D,
  proj: tf.Tensor2D,
) {
  return tf.tidy(() => {
    const y = f(a, w);
    const [dw] = tf.grads((wv: tf.Tensor) => tf.sum(tf.mul(f(a, wv as tf.Tensor2D), proj)))([w]);
    return [y, dw];
  });
}

Deno.test("hostConstantMatMul() equals tf.matMul in value and gradient, padded sizes included", async (t) => {
  for (const backend of ["wasm", "cpu"] as const) {
    await selectBackend(backend);
    // Sizes around the paddings (rows to 4, inner to 4, columns to 8) and the esn_flow_timit one.
    for (const [rows, inner, cols] of [[7, 9, 5], [8, 12, 16], [1, 3, 1], [130, 1000, 120]]) {
      await t.step(`${backend} [${rows}, ${inner}] x [${inner}, ${cols}]`, () => {
        const r = new Rng(`host-matmul:${rows}:${inner}:${cols}`);
        const a = tf.tensor2d(r.normals(rows * inner), [rows, inner]);
        const w = tf.tensor2d(r.normals(inner * cols), [inner, cols]);
        const proj = tf.tensor2d(r.normals(rows * cols), [rows, cols]);
        const before = tf.memory().numTensors;
        const got = valueAndGrad(hostConstantMatMul, a, w, proj);
        const want = valueAndGrad((x, y) => tf.matMul(x, y), a, w, proj);
        // Float32 sums of `inner` (or `rows`) terms of size ~1 in another order (and fused multiply-adds).
        const tol = inner >= 100 ? 1e-4 : 1e-5;
        assert.ok(maxErr(got[0], want[0]) < tol, `value: ${maxErr(got[0], want[0])}`);
        assert.ok(maxErr(got[1], want[1]) < tol, `d/dw: ${maxErr(got[1], want[1])}`);
        assert.equal(tf.memory().numTensors, before + 4, "leaked tensors");
        tf.dispose([...got, ...want, a, w, proj]);
      });
    }
  }
});

Deno.test("hostConstantMatMul() gradients stay right when another product runs in between", async () => {
  await selectBackend("wasm");
  const r = new Rng("host-matmul:interleaved");
  const [a1, a2] = [r.normals(6 * 10), r.normals(6 * 10)].map((v) => tf.tensor2d(v, [6, 10]));
  const w = tf.variable(tf.tensor2d(r.normals(10 * 3), [10, 3]));
  // Both products are made before either gradient: the second one's states replace the first's.
  const host = tf.variableGrads(() =>
    tf.add(tf.sum(hostConstantMatMul(a1, w)), tf.sum(tf.square(hostConstantMatMul(a2, w)))) as tf.Scalar
  );
  const ref = tf.variableGrads(() =>
    tf.add(tf.sum(tf.matMul(a1, w)), tf.sum(tf.square(tf.matMul(a2, w)))) as tf.Scalar
  );
  assert.ok(maxErr(host.grads[w.name], ref.grads[w.name]) < 1e-5);
  tf.dispose([a1, a2, w, host.value, ref.value, ...Object.values(host.grads), ...Object.values(ref.grads)]);
});

Deno.test("hostValues() reads a tensor without copying on wasm; tensorFrom() copies a view on every backend", async () => {
  for (const backend of ["wasm", "cpu"] as const) {
    await selectBackend(backend);
    const t = tf.tensor1d([1, 2, 3]);
    assert.deepEqual([...hostValues(t)], [1, 2, 3]);
    const src = new Float32Array([4, 5, 6, 7]);
    const u = tensorFrom<tf.Rank.R1>(src.subarray(1, 3), [2]);
    src.fill(0);
    assert.deepEqual([...u.dataSync()], [5, 6], `${backend}: the tensor must not alias its source`);
    assert.throws(() => hostValues(tf.tensor1d([1], "int32")), /float32/);
    tf.dispose([t, u]);
  }
});
