/**
 * A fully connected layer `y = x W + b`, W: `[inDim, outDim]`.
 *
 * Initialised as PyTorch's `nn.Linear` (weights and bias uniform in ±1/sqrt(inDim)), so models match the
 * reference implementation in distribution; `init: "zeros"` gives a zero layer (identity-initialised
 * coupling heads). All draws come from the given {@link Rng}, so a seed fixes the weights.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { Module, NamedTensors } from "./module.ts";

export interface LinearOptions {
  /** `uniform` (PyTorch default) or `zeros`. */
  readonly init?: "uniform" | "zeros";
  /** Whether to add a bias (default true). */
  readonly bias?: boolean;
}

/** Uniform(-bound, bound) values from `rng`. */
export function uniformValues(n: number, bound: number, rng: Rng): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.uniform() - 1) * bound;
  return out;
}

/**
 * `x W` with a gradient that transposes explicitly: `dx = dy transpose(W)`, `dW = transpose(x) dy`.
 * tfjs's own gradient uses transposed-operand matMuls, which the wasm backend runs on a slow path:
 * measured on a 256x256x256 product, 20-26 ms against 3 ms for transpose + plain matMul; at the MNIST
 * flows' sizes, [100, 784] x [784, 784] takes 78 ms with transposeB against 11.6 ms plain, and
 * [784, 100] x [100, 784] 57 ms with transposeA against 11 ms as transpose + plain. With it, a training
 * step of the RealNVP of experiments/realnvp_moons.ts runs about 5x faster on wasm. Used by every layer
 * that multiplies by a trained matrix (Linear, the exact and self-normalizing flows, `dynamic/products.ts`).
 */
export const matMulFastGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([x, w]);
  return {
    value: tf.matMul(x, w),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws] = saved as tf.Tensor2D[];
      return [tf.matMul(dy as tf.Tensor2D, tf.transpose(ws)), tf.matMul(tf.transpose(xs), dy as tf.Tensor2D)];
    },
  };
}) as unknown as (x: tf.Tensor2D, w: tf.Tensor2D) => tf.Tensor2D;

export class Linear implements Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly inDim: number, readonly outDim: number, rng: Rng, opts: LinearOptions = {}) {
    if (!(inDim >= 1 && outDim >= 1)) {
      throw new Error(`Linear: dimensions must be >= 1, got ${inDim} -> ${outDim}`);
    }
    const bound = opts.init === "zeros" ? 0 : 1 / Math.sqrt(inDim);
    // tf.variable copies its initial value: tidy frees the temporary tensors (variables survive tidy).
    this.weight = tf.tidy(() =>
      tf.variable(tf.tensor2d(uniformValues(inDim * outDim, bound, rng), [inDim, outDim]))
    );
    const b = opts.bias === false ? null : uniformValues(outDim, bound, rng);
    this.bias = b && tf.tidy(() => tf.variable(tf.tensor1d(b)));
  }

  /** `x: [batch, inDim]` to `[batch, outDim]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    const y = matMulFastGrad(x, this.weight as tf.Tensor2D);
    return this.bias ? tf.add<tf.Tensor2D>(y, this.bias) : y;
  }

  parameters(): NamedTensors<tf.Variable> {
    return this.bias ? [["weight", this.weight], ["bias", this.bias]] : [["weight", this.weight]];
  }
}
