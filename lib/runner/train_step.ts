/**
 * One optimisation step: loss, gradients of every parameter, optional global-norm clipping, update.
 *
 * The loss is `model.loss(batch)` when the model defines it (e.g. self-normalizing flows), else the
 * negative mean exact log-likelihood `-mean(logProb(batch))`. Gradient clipping follows PyTorch's
 * `clip_grad_norm_`: with total norm `n = sqrt(sum_i ||g_i||^2)`, every gradient is scaled by
 * `min(1, maxNorm / (n + 1e-6))`.
 *
 * A model with device kernels for the current backend ({@link DensityModel.deviceStep}: the dynamic flow on
 * WebGPU) computes the loss and gradients there, and with {@link FlatAdam} the update too.
 */
import * as tf from "@tensorflow/tfjs";
import type { FlatAdam } from "./adam.ts";
import type { Batch, DensityModel, DeviceStep } from "./types.ts";

/** The training loss of one batch (scalar). Allocates: call inside `tf.tidy`. */
export function lossOf<B extends Batch>(model: DensityModel<B>, batch: B): tf.Scalar {
  return model.loss?.(batch) ?? tf.neg(tf.mean(model.logProb(batch)));
}

/**
 * Scales `grads` so their global L2 norm is at most `maxNorm`. Allocates: call inside `tf.tidy`. The squared
 * norms are summed as one stacked vector: tfjs-backend-webgpu 4.22's `addN` of scalars gives a wrong sum
 * (of the first two, or of stale memory), which made clipping on WebGPU wrong (`tests/webgpu_flow_test.ts`).
 */
export function clipByGlobalNorm(grads: tf.Tensor[], maxNorm: number): tf.Tensor[] {
  const norm = tf.sqrt(tf.sum(tf.stack(grads.map((g) => tf.sum(tf.square(g))))));
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
  const device = model.deviceStep?.(batch);
  if (device) return deviceTrainStep(device, vars, optimizer, gradClipNorm);
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => lossOf(model, batch), vars);
    // Position matters: Adam and friends index their slots by the order of this list.
    const used = vars.filter((v) => grads[v.name] !== undefined);
    applyClipped(optimizer, used.map((v) => ({ name: v.name, tensor: grads[v.name] })), gradClipNorm);
    return value;
  });
}

/**
 * A step through the model's device kernels: with {@link FlatAdam}, the whole step, update included, on the
 * device; with another optimizer, the device's gradients applied as {@link applyClipped} does.
 */
function deviceTrainStep(
  device: DeviceStep,
  vars: tf.Variable[],
  optimizer: tf.Optimizer,
  gradClipNorm: number | null,
): tf.Scalar {
  // Not `instanceof`: tfjs's optimizers answer it by duck typing (any optimizer is an "instance" of FlatAdam).
  if (typeof (optimizer as Partial<FlatAdam>).deviceSlots === "function") {
    const adam = optimizer as FlatAdam;
    const loss = device.adam(adam.deviceSlots(vars), gradClipNorm);
    adam.countStep();
    return loss;
  }
  const { loss, grads } = device.gradients();
  try {
    tf.tidy(() =>
      applyClipped(optimizer, vars.map((v, i) => ({ name: v.name, tensor: grads[i] })), gradClipNorm)
    );
  } finally {
    tf.dispose(grads);
  }
  return loss;
}
