/**
 * One optimisation step: loss, gradients of every parameter, optional global-norm clipping, update.
 *
 * The loss is `model.loss(batch)` when the model defines it (e.g. self-normalizing flows), else the
 * negative mean exact log-likelihood `-mean(logProb(batch))`. Gradient clipping follows PyTorch's
 * `clip_grad_norm_`: with total norm `n = sqrt(sum_i ||g_i||^2)`, every gradient is scaled by
 * `min(1, maxNorm / (n + 1e-6))`.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, DensityModel } from "./types.ts";

/** The training loss of one batch (scalar). Allocates: call inside `tf.tidy`. */
export function lossOf<B extends Batch>(model: DensityModel<B>, batch: B): tf.Scalar {
  return model.loss?.(batch) ?? tf.neg(tf.mean(model.logProb(batch)));
}

/** Scales `grads` so their global L2 norm is at most `maxNorm`. Allocates: call inside `tf.tidy`. */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): tf.Tensor[] {
  const norm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
  const scale = tf.minimum(1, tf.div(maxNorm, tf.add(norm, 1e-6)));
  return grads.map((g) => tf.mul(g, scale));
}

/**
 * Clips `grads` by their global norm when `gradClipNorm` is set and applies them, in the given order.
 * Allocates: call inside `tf.tidy`.
 */
export function applyClipped(
  optimizer: tf.Optimizer,
  grads: readonly { name: string; tensor: tf.Tensor }[],
  gradClipNorm: number | null,
): void {
  const ts = grads.map((g) => g.tensor);
  const clipped = gradClipNorm === null ? ts : clipByGlobalNorm(ts, gradClipNorm);
  optimizer.applyGradients(grads.map((g, i) => ({ name: g.name, tensor: clipped[i] })));
}

/**
 * Runs one step on `batch` and returns the loss (a scalar the caller disposes). Every intermediate
 * tensor is freed, so `tf.memory().numTensors` stays constant from the second step on (the first step
 * creates the optimizer's slots).
 */
export function trainStep<B extends Batch>(
  model: DensityModel<B>,
  optimizer: tf.Optimizer,
  batch: B,
  gradClipNorm: number | null,
): tf.Scalar {
  const vars = model.parameters().map(([, v]) => v);
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => lossOf(model, batch), vars);
    // Position matters: Adam and friends index their slots by the order of this list.
    const used = vars.filter((v) => grads[v.name] !== undefined);
    applyClipped(optimizer, used.map((v) => ({ name: v.name, tensor: grads[v.name] })), gradClipNorm);
    return value;
  });
}
