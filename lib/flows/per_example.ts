/** Small shape helpers shared by the flow layers: per-example sums, broadcasts and flattening. */
import * as tf from "@tensorflow/tfjs";

/** Sum over every axis but the batch axis: `[B, ...] -> [B]`. */
export function sumPerExample(t: tf.Tensor): tf.Tensor1D {
  return tf.sum(t.reshape([t.shape[0], -1]), 1) as tf.Tensor1D;
}

/** `value` repeated once per example: a `[batch]` log-det from a scalar (gradient sums over the batch). */
export function perExample(value: tf.Scalar, batch: number): tf.Tensor1D {
  return tf.mul(tf.ones([batch]), value);
}

/** Checks that `x` is `[B, ...]` with `dim` values per example and returns it as `[B, dim]`. */
export function flatten2d(who: string, x: tf.Tensor, dim: number): tf.Tensor2D {
  const per = x.shape.slice(1).reduce((a, b) => a * b, 1);
  if (x.rank < 2 || per !== dim) {
    throw new Error(`${who}: input must have ${dim} values per example, got shape [${x.shape.join(", ")}]`);
  }
  return x.reshape([x.shape[0], dim]);
}

/**
 * `fn(...inputs)` as a constant of the gradient tape: its value, with zero gradient to every input. For
 * masks and bin indices built from comparisons, which have no gradient in tfjs, so that `tf.where` on them
 * does not break backpropagation.
 */
export function constantOf(fn: (...inputs: tf.Tensor[]) => tf.Tensor, ...inputs: tf.Tensor[]): tf.Tensor {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const xs = args.slice(0, inputs.length) as tf.Tensor[];
    return { value: fn(...xs), gradFunc: () => xs.map((x) => tf.zerosLike(x)) };
  });
  return op(...inputs);
}
