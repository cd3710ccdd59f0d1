/**
 * Moving tensor values between tfjs and the host kernels (`kernels.ts`) without extra copies.
 *
 * On wasm a fresh `dataSync()` array per call is not free: first touches of fresh memory are slow on this
 * project's VM (a new 4 MB array filled in ~14 ms, a reused one in 0.3 ms, measured), so inputs are read
 * through a view of the backend's heap and outputs are copied straight from the kernels' memory.
 */
import * as tf from "@tensorflow/tfjs";
import { heapView } from "./tfjs_internals.ts";

/**
 * The values of a float32 tensor on the host: a view of the wasm backend's heap (valid until the next tfjs
 * op, which may grow the heap), or `dataSync()` elsewhere. Read it, never write it.
 */
export function hostValues(t: tf.Tensor): Float32Array {
  if (t.dtype !== "float32") throw new Error(`hostValues: expected a float32 tensor, got ${t.dtype}`);
  if (tf.getBackend() === "wasm") {
    return heapView(t);
  }
  return t.dataSync() as Float32Array;
}

/**
 * A tensor holding a copy of `values` (which may be a view of another memory). The wasm backend copies what
 * it is given; the cpu backend keeps the array, so it gets a copy.
 */
export function tensorFrom<R extends tf.Rank>(values: Float32Array, shape: tf.ShapeMap[R]): tf.Tensor<R> {
  return tf.tensor(tf.getBackend() === "wasm" ? values : values.slice(), shape) as tf.Tensor<R>;
}

/** Whether the current backend's tensors read synchronously on the host (wasm, cpu): the host kernels' path. */
export function hostKernelsApply(): boolean {
  const b = tf.getBackend();
  return b === "wasm" || b === "cpu";
}

let scratch = new Float32Array(0);

/**
 * A host array of `n` floats reused from call to call (contents undefined): for values that go into a
 * tensor ({@link tensorFrom}) before the next call. Saves a fresh allocation per call.
 */
export function hostScratch(n: number): Float32Array {
  if (scratch.length < n) scratch = new Float32Array(Math.max(n, 2 * scratch.length));
  return scratch.subarray(0, n);
}
