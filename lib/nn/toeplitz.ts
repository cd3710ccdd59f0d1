/**
 * A Toeplitz-constrained linear layer: `y = x W^T + b` with `W[i, j] = p[i - j + inDim - 1]`
 * (`W: [outDim, inDim]`), i.e. constant along diagonals, `inDim + outDim - 1` free parameters instead of
 * `inDim * outDim`. Layout, index and initialisation (uniform in ±1/sqrt(inDim) for `p` and `b`) are those
 * of the reference `Toeplitz` module of `torch_esn_flow.py`, so its weights load unchanged.
 *
 * The weight is built by `tf.gather(p, index)`, so gradients flow to the free parameters; {@link rowsT}
 * builds any row block of `W^T` (e.g. the part that multiplies the ESN state) the same way.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import "../dynamic/wasm_kernels.ts";
import { uniformValues } from "./linear.ts";
import type { Module, NamedTensors } from "./module.ts";

/**
 * Indices into `p` of the rows `from..to-1` of `W^T` (`[to - from, outDim]`, row-major):
 * `W^T[j, i] = p[i - j + inDim - 1]`.
 */
export function toeplitzIndexT(inDim: number, outDim: number, from = 0, to = inDim): Int32Array {
  if (!(0 <= from && from <= to && to <= inDim)) {
    throw new Error(`toeplitzIndexT: rows ${from}..${to} are outside 0..${inDim}`);
  }
  const out = new Int32Array((to - from) * outDim);
  for (let j = from; j < to; j++) {
    for (let i = 0; i < outDim; i++) out[(j - from) * outDim + i] = i - j + inDim - 1;
  }
  return out;
}

/** `y = x W^T + b` with `W[i, j] = p[i - j + inDim - 1]` (see the module doc). */
export class ToeplitzLinear implements Module {
  /** The free parameters p, `[inDim + outDim - 1]`. */
  readonly params: tf.Variable;
  readonly bias: tf.Variable;
  #index = new Map<string, Int32Array>();

  constructor(readonly inDim: number, readonly outDim: number, rng: Rng) {
    if (!(Number.isInteger(inDim) && inDim >= 1 && Number.isInteger(outDim) && outDim >= 1)) {
      throw new Error(`ToeplitzLinear: dimensions must be integers >= 1, got ${inDim} -> ${outDim}`);
    }
    const bound = 1 / Math.sqrt(inDim);
    // tf.variable copies its initial value: tidy frees the temporary tensors (variables survive tidy).
    this.params = tf.tidy(() => tf.variable(tf.tensor1d(uniformValues(inDim + outDim - 1, bound, rng))));
    this.bias = tf.tidy(() => tf.variable(tf.tensor1d(uniformValues(outDim, bound, rng))));
  }

  /** Rows `from..to-1` of `W^T`, `[to - from, outDim]`, differentiable in `params`. */
  rowsT(from = 0, to = this.inDim): tf.Tensor2D {
    const key = `${from}:${to}`;
    let idx = this.#index.get(key);
    if (!idx) {
      idx = toeplitzIndexT(this.inDim, this.outDim, from, to);
      this.#index.set(key, idx);
    }
    // The index lives on the host (uploaded per call, a few kB) so the module owns no extra tensors.
    return tf.gather(this.params, tf.tensor2d(idx, [to - from, this.outDim], "int32")) as tf.Tensor2D;
  }

  /** `x: [batch, inDim]` to `[batch, outDim]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.add(tf.matMul(x, this.rowsT()), this.bias));
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["params", this.params], ["bias", this.bias]];
  }
}
