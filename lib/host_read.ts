/**
 * Host copies of tensors, read asynchronously ahead of the synchronous code that needs them.
 *
 * A few layers look at tensor values on the CPU in the middle of a forward pass: the exact layers
 * factorise their weight matrix by LU in float64 (`lib/linalg.ts`), ActNorm reads whether it was
 * initialised. On cpu and wasm a synchronous `dataSync()` does that; Deno's WebGPU backend has no
 * synchronous read-back (it needs a 2-D canvas), so there the values are read before the pass, with
 * `await readToHost(tensors)`, and the pass takes them with {@link hostData}. Layers say which tensors they
 * read (`Bijector.hostTensors`), models read them in `DensityModel.prepare`, which the runner awaits
 * before every training step, evaluation batch and sampling.
 *
 * Copies are keyed by the tensor's data: a variable assigned new values (an optimizer step) has new data,
 * so its old copy is never used again (and is garbage-collected with the data's id).
 */
import * as tf from "@tensorflow/tfjs";
import { hostKernelsApply } from "./wasm/tensor_io.ts";

const copies = new WeakMap<object, tf.TypedArray>();

/** True when the active backend reads tensors synchronously (cpu, wasm); false on WebGPU. */
export function readsSynchronously(): boolean {
  return hostKernelsApply();
}

/** Reads the values of `tensors` to the host (once per version of their data), for {@link hostData}. */
export async function readToHost(tensors: readonly tf.Tensor[]): Promise<void> {
  // One read per data (views such as reshapes share it).
  const todo = [...new Map(tensors.map((t) => [t.dataId, t])).values()].filter((t) => !copies.has(t.dataId));
  const values = await Promise.all(todo.map((t) => t.data()));
  todo.forEach((t, i) => copies.set(t.dataId, values[i]));
}

/**
 * The values of `t` on the host: the copy {@link readToHost} made, else (cpu, wasm) a synchronous read.
 * On WebGPU a tensor that was not read beforehand is an error naming `who` and the tensor's shape.
 */
export function hostData(t: tf.Tensor, who: string): tf.TypedArray {
  const copy = copies.get(t.dataId);
  if (copy) return copy;
  if (readsSynchronously()) return t.dataSync();
  throw new Error(
    `${who}: the [${t.shape.join(", ")}] tensor was not read to the host beforehand, and the ` +
      `${tf.getBackend()} backend cannot read synchronously; await model.prepare() (or readToHost) before ` +
      `this step`,
  );
}
