import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selectBackend } from "../lib/backend.ts";
import { columnBlocks, equalColumnBlocks } from "../lib/dynamic/esn_flow.ts";
import { Rng } from "../lib/rng.ts";

await selectBackend("wasm");

// Pure copies of the same float32 values: equal up to the float32 sum of the loss (1e-6 relative).
function close(p: ArrayLike<number>, q: ArrayLike<number>, what: string): void {
  assert.equal(p.length, q.length, what);
  for (let i = 0; i < p.length; i++) {
    assert.ok(Math.abs(p[i] - q[i]) <= 1e-6 * (1 + Math.abs(q[i])), `${what} entry ${i}: ${p[i]} vs ${q[i]}`);
  }
}

/** The blocks by plain `tf.slice` (the reference, with tfjs's own slice gradient). */
function sliced(x: tf.Tensor2D, widths: readonly number[]): tf.Tensor2D[] {
  let at = 0;
  return widths.map((w) => {
    const block = tf.slice(x, [0, at], [-1, w]) as tf.Tensor2D;
    at += w;
    return block;
  });
}

Deno.test("equalColumnBlocks() has the values and gradient of plain column slices", async (t) => {
  const r = new Rng(7);
  const [rows, count, width] = [5, 4, 3];
  const x = tf.tensor2d(r.normals(rows * count * width), [rows, count * width]);
  // A different weight per block, so that a block swap or a transposed gradient changes the loss.
  const ws = Array.from({ length: count }, () => tf.tensor2d(r.normals(rows * width), [rows, width]));
  const loss = (split: (v: tf.Tensor2D) => tf.Tensor2D[]) => (v: tf.Tensor) =>
    tf.addN(split(v as tf.Tensor2D).map((b, k) => tf.sum(tf.mul(tf.square(b), ws[k])))) as tf.Scalar;
  const widths = Array.from({ length: count }, () => width);
  try {
    for (
      const [name, split] of [
        ["equalColumnBlocks", (v: tf.Tensor2D) => equalColumnBlocks(v, count)],
        ["columnBlocks (equal widths)", (v: tf.Tensor2D) => columnBlocks(v, widths)],
      ] as const
    ) {
      await t.step(name, () =>
        tf.tidy(() => {
          const ours = split(x), plain = sliced(x, widths);
          ours.forEach((b, k) => {
            assert.deepEqual(b.shape, [rows, width]);
            close(b.dataSync(), plain[k].dataSync(), `block ${k}`);
          });
          close(
            tf.grad(loss(split))(x).dataSync(),
            tf.grad(loss((v) => sliced(v, widths)))(x).dataSync(),
            "grad",
          );
        }));
    }
    await t.step("columnBlocks with unequal widths", () =>
      tf.tidy(() => {
        const uneven = [2, 7, 3];
        columnBlocks(x, uneven).forEach((b, k) =>
          close(b.dataSync(), sliced(x, uneven)[k].dataSync(), `${k}`)
        );
      }));
    await t.step("a width that does not divide the columns is an error", () => {
      assert.throws(() => equalColumnBlocks(x, 5), /12 columns do not split into 5 equal blocks/);
    });
  } finally {
    for (const v of [x, ...ws]) v.dispose();
  }
});
