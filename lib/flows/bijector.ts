/**
 * The bijector interface every flow layer implements.
 *
 * Direction: `forward` maps data x to latent z (the normalising direction, used for the likelihood);
 * `inverse` maps latent to data (used for sampling). Both return the transformed tensor and the log
 * absolute determinant of the Jacobian of *the map they compute*, one value per example, shape `[batch]`:
 *
 *   log p(x) = log p_base(f(x)) + log|det df/dx|        (forward.logDet)
 *   inverse(z).logDet = -forward(inverse(z)).logDet
 *
 * Tensors are batch-first (`[batch, dim]` for vectors, `[batch, height, width, channels]` for images).
 * Every bijector takes an optional `context` (`[batch, contextDim]`), so any two compose; one that ignores
 * it still accepts it. Callers own `tf.tidy`: bijectors allocate freely and return new tensors.
 */
import type * as tf from "@tensorflow/tfjs";
import type { Module } from "../nn/module.ts";

/** A transformed tensor and the per-example log |det J| of the map that produced it. */
export interface Transformed {
  readonly y: tf.Tensor;
  readonly logDet: tf.Tensor1D;
}

export interface Bijector extends Module {
  /** Data to latent, with log |det d forward / dx| per example. */
  forward(x: tf.Tensor, context?: tf.Tensor): Transformed;
  /** Latent to data, with log |det d inverse / dz| per example (= minus the forward log-det). */
  inverse(z: tf.Tensor, context?: tf.Tensor): Transformed;
  /**
   * The tensors whose values `forward` and `inverse` read on the host in the layer's current mode (the
   * matrix of a host LU log-det, a data-dependent-init flag); absent: none. A container lists its
   * layers'. The model reads them asynchronously before each pass (`DensityModel.prepare`,
   * `lib/host_read.ts`), which backends without synchronous read-back (WebGPU) need.
   */
  hostTensors?(): tf.Tensor[];
}

/** The {@link Bijector.hostTensors} of several layers, in order. */
export function hostTensorsOf(layers: readonly Bijector[]): tf.Tensor[] {
  return layers.flatMap((l) => l.hostTensors?.() ?? []);
}

/**
 * A layer that computes differently while the training loss is computed (self-normalized gradients,
 * fewer series terms, a power-iteration step). `training` is false by default and set only around the
 * training loss (`withTraining` in selfnorm.ts); every other use (evaluation, sampling) sees false.
 */
export interface TrainingMode {
  training: boolean;
}

/** Throws a clear error when `x` is not batch-first with the expected trailing shape. */
export function checkShape(who: string, what: string, x: tf.Tensor, trailing: readonly number[]): void {
  const got = x.shape.slice(1);
  if (got.length !== trailing.length || got.some((d, i) => trailing[i] >= 0 && d !== trailing[i])) {
    throw new Error(
      `${who}: ${what} must have shape [batch, ${trailing.join(", ")}], got [${x.shape.join(", ")}]`,
    );
  }
}
