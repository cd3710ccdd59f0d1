/**
 * Self-normalizing layers (Keller, Peters, Jaini, Hoogeboom, Forré & Welling 2021, "Self Normalizing
 * Flows", ICML): a linear map `z = W x + b` with a learned approximate inverse `R ~ W^{-1}`, trained
 * without ever computing `log|det W|` or `W^{-1}`.
 *
 * The model is read as the average of two flows, `f(x) = W x + b` and `g^{-1}(x) = R^{-1} x + b`, so the
 * training objective per layer is `1/2 (L_f(W) + L_g(R))`. With `delta = dL/dz` (from the data term and
 * the layers above, per example) and `delta_x = W^T delta`, their gradients are approximated by replacing
 * each inverse by the other matrix (`W^{-T} ~ R^T`, `R^{-T} ~ W^T`), as in the paper (Sec. 3) and the
 * backward pass of the reference implementation (`snf/layers/selfnorm.py`, `SelfNormConvFunc`):
 *
 *   dL/dW ~ 1/2 (sum_n delta_n x_n^T            + s R^T),       s = sum_n dL/dlogDet_n  (= -1 for -mean)
 *   dL/dR ~ 1/2 (-sum_n delta_x,n (W x_n)^T     - s W^T),
 *   dL/db = sum_n delta_n,    dL/dx_n = delta_x,n            (exact; earlier layers see the exact chain rule)
 *
 * With `R = W^{-1}` this is exactly the gradient of `1/2 (L_f(W) + L_g(R))`. The training-time log-det has
 * value 0 and carries only the `s` terms; the reconstruction penalty of the paper,
 * `lambda ||x - R W x||^2` (optionally symmetrised with `||z - W R z||^2`, inputs held constant as in the
 * reference), is subtracted from it per example, so `-mean(logProb)` in training mode is the full loss of
 * one step. Evaluation (training off) is always exact: `log|det W|` by LU, the exact inverse.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { NamedTensors } from "../nn/module.ts";
import { slogdet } from "../linalg.ts";
import { matMulFastGrad } from "../nn/linear.ts";
import type { DensityModel } from "../runner/types.ts";
import type { Bijector, TrainingMode, Transformed } from "./bijector.ts";
import { type Flow, type FlowBatch, prepareFlow } from "./flow.ts";
import { ExactFC, type SquareInitOptions } from "./exact.ts";
import { flatten2d, perExample } from "./per_example.ts";

/** Switches shared by the self-normalizing layers; see {@link withTraining}. */
export interface SelfNormalizing extends Bijector, TrainingMode {
  /** Forward uses the self-normalized surrogate (set only while computing the training loss). */
  training: boolean;
  /** Inverse uses `R` instead of the true inverse (fast sampling, as the reference samples). */
  approxInverse: boolean;
}

/** Options of the self-normalizing layers (the reference's config keys in camelCase). */
export interface SelfNormOptions extends SquareInitOptions {
  /** Train with the self-normalized gradient (default true); false: exact log-det gradient. */
  readonly modifiedGrad?: boolean;
  /** Add the reconstruction penalty to the training loss (default true). */
  readonly addReconGrad?: boolean;
  /** Average with the symmetric penalty `||z - W R z||^2` (default false). */
  readonly symReconGrad?: boolean;
  /** Penalty updates only R (W x held constant) (default false). */
  readonly onlyRRecon?: boolean;
  /** lambda, the penalty's weight (default 1). */
  readonly reconLossWeight?: number;
  /** Standard deviation of noise added to the initial `R = W^T` (default 0; tests use it). */
  readonly inverseNoise?: number;
}

/** The switches of {@link SelfNormOptions} with the reference's defaults filled in. */
export type SelfNormSwitches = Required<
  Pick<SelfNormOptions, "modifiedGrad" | "addReconGrad" | "symReconGrad" | "onlyRRecon" | "reconLossWeight">
>;

/**
 * What a self-normalizing layer (W, its approximate inverse R) reads on the host: nothing while training with
 * the self-normalized gradient (nothing is factorised: the point of the layer); W when training with the
 * exact gradient; W and R otherwise (exact log-det and inverse, the log-det of the approximate inverse).
 */
export function selfNormHostTensors(
  layer: { readonly training: boolean; readonly weight: tf.Tensor; readonly inverseWeight: tf.Tensor },
  switches: SelfNormSwitches,
): tf.Tensor[] {
  if (layer.training) return switches.modifiedGrad ? [] : [layer.weight];
  return [layer.weight, layer.inverseWeight];
}

/** `opts` with the defaults of {@link SelfNormOptions} (modified and reconstruction gradient on, lambda 1). */
export function selfNormSwitches(opts: SelfNormOptions): SelfNormSwitches {
  return {
    modifiedGrad: opts.modifiedGrad ?? true,
    addReconGrad: opts.addReconGrad ?? true,
    symReconGrad: opts.symReconGrad ?? false,
    onlyRRecon: opts.onlyRRecon ?? false,
    reconLossWeight: opts.reconLossWeight ?? 1,
  };
}

/** Identity forward whose gradient is zero (tfjs has no `stop_gradient`). */
export const stopGradient: <T extends tf.Tensor>(x: T) => T = tf.customGrad(
  (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
  },
) as <T extends tf.Tensor>(x: T) => T;

/**
 * Rows `z = x V + b` (`V = W^T`) with the self-normalized gradients of the module comment, written for
 * the stored `V` and `U = R^T`: `dV = 1/2 x^T delta`, `dU = -1/2 (x V)^T delta_x`, `delta_x = delta V^T`.
 * Products use explicit transposes (see `matMulFastGrad` in nn/linear.ts).
 */
const snfLinear = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, v, b] = args as tf.Tensor2D[];
  const save = args[4] as tf.GradSaveFunc;
  const xv = tf.matMul(x, v);
  save([x, v, xv]);
  const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
    const [xs, vs, xvs] = saved as tf.Tensor2D[];
    const dz = dy as tf.Tensor2D;
    const dx = tf.matMul(dz, tf.transpose(vs));
    const dv = tf.mul(tf.matMul(tf.transpose(xs), dz), 0.5);
    const du = tf.mul(tf.matMul(tf.transpose(xvs), dx), -0.5);
    return [dx, dv, tf.sum(dz, 0), du];
  };
  return { value: tf.add(xv, b), gradFunc };
}) as (x: tf.Tensor2D, v: tf.Tensor, b: tf.Tensor, u: tf.Tensor) => tf.Tensor2D;

/**
 * A `[batch]` log-det of value 0 whose gradient carries the `s` terms of the module comment:
 * `dL/dW = 1/2 s adjoint(R)` and `dL/dR = -1/2 s adjoint(W)`, with `s = sum_n dL/dlogDet_n` and
 * `adjoint` mapping a stored parameter to the stored form of its matrix's transpose (`transpose` for the
 * FC layer's `V = W^T`, `U = R^T`; flipped kernel times tap counts for the convolution).
 */
export function selfNormLogDet(
  batch: number,
  w: tf.Tensor,
  r: tf.Tensor,
  adjoint: (t: tf.Tensor) => tf.Tensor,
): tf.Tensor1D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    (args[2] as tf.GradSaveFunc)([args[0] as tf.Tensor, args[1] as tf.Tensor]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const half = tf.mul(tf.sum(dy), 0.5);
      return [tf.mul(adjoint(saved[1]), half), tf.mul(adjoint(saved[0]), tf.neg(half))];
    };
    return { value: tf.zeros([batch]) as tf.Tensor1D, gradFunc };
  });
  return op(w, r) as tf.Tensor1D;
}

/**
 * Self-normalizing fully connected layer `z = W x + b` with approximate inverse `R`, `W = R^T = I` at
 * initialisation (the reference's init). Parameters, stored transposed for row batches (as `Linear`):
 * `weight` = W^T, `bias` = b, `inverse_weight` = R^T, so `z = x weight + b` and `x ~ (z - b) inverse_weight`.
 */
export class SelfNormFC implements SelfNormalizing {
  training = false;
  approxInverse = false;
  /** `R^T`, `[D, D]`. */
  readonly inverseWeight: tf.Variable;
  readonly #exact: ExactFC;
  readonly #opts: SelfNormSwitches;

  constructor(readonly dim: number, rng: Rng, opts: SelfNormOptions = {}) {
    this.#exact = new ExactFC(dim, rng, opts);
    const noise = opts.inverseNoise ?? 0;
    this.inverseWeight = tf.variable(tf.tidy(() => {
      const u = tf.transpose(this.#exact.weight); // R = W^T, so R^T = W = weight^T
      return noise > 0 ? tf.add(u, tf.tensor2d(rng.normals(dim * dim, noise), [dim, dim])) : u;
    }));
    this.#opts = selfNormSwitches(opts);
  }

  /** `W^T`, `[D, D]`. */
  get weight(): tf.Variable {
    return this.#exact.weight;
  }

  get bias(): tf.Variable | null {
    return this.#exact.bias;
  }

  forward(x: tf.Tensor): Transformed {
    if (!this.training) return this.#exact.forward(x);
    return tf.tidy(() => {
      const x2 = flatten2d("SelfNormFC.forward", x, this.dim);
      const { modifiedGrad, addReconGrad } = this.#opts;
      const v = this.weight, u = this.inverseWeight;
      const z = modifiedGrad
        ? snfLinear(x2, v, this.bias ?? tf.zeros([this.dim]), u)
        : this.#exact.affine(x2);
      let logDet = modifiedGrad
        ? selfNormLogDet(x.shape[0], v, u, (t) => tf.transpose(t))
        : perExample(slogdet(v as tf.Tensor2D), x.shape[0]);
      if (addReconGrad) logDet = tf.sub(logDet, this.reconLoss(x2));
      return { y: z.reshape(x.shape), logDet };
    });
  }

  /**
   * `lambda ||x - R W x||^2` per example, `[batch]`, with x held constant (and, with `symReconGrad`, the
   * average with `||z - W R z||^2`, z = W x held constant as the target).
   */
  reconLoss(x: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const { symReconGrad, onlyRRecon, reconLossWeight } = this.#opts;
      const xc = stopGradient(x);
      const v = this.weight as tf.Tensor2D, u = this.inverseWeight as tf.Tensor2D;
      let z = matMulFastGrad(xc, v);
      if (onlyRRecon) z = stopGradient(z);
      let loss = tf.sum(tf.square(tf.sub(xc, matMulFastGrad(z, u))), 1);
      if (symReconGrad) {
        const zHat = matMulFastGrad(matMulFastGrad(z, u), v);
        loss = tf.mul(tf.add(loss, tf.sum(tf.square(tf.sub(stopGradient(z), zHat)), 1)), 0.5);
      }
      return tf.mul(loss, reconLossWeight) as tf.Tensor1D;
    });
  }

  inverse(z: tf.Tensor): Transformed {
    if (!this.approxInverse) return this.#exact.inverse(z);
    return tf.tidy(() => {
      let v = flatten2d("SelfNormFC.inverse", z, this.dim);
      if (this.bias) v = tf.sub(v, this.bias);
      const x = matMulFastGrad(v, this.inverseWeight as tf.Tensor2D);
      return {
        y: x.reshape(z.shape),
        logDet: perExample(slogdet(this.inverseWeight as tf.Tensor2D), z.shape[0]),
      };
    });
  }

  /** See {@link selfNormHostTensors}. */
  hostTensors(): tf.Tensor[] {
    return selfNormHostTensors(this, this.#opts);
  }

  parameters(): NamedTensors<tf.Variable> {
    return [...this.#exact.parameters(), ["inverse_weight", this.inverseWeight]];
  }
}

/** Runs `fn` with `training` set on every layer, restoring the previous values afterwards. */
export function withTraining<T>(layers: readonly TrainingMode[], fn: () => T): T {
  const before = layers.map((l) => l.training);
  for (const l of layers) l.training = true;
  try {
    return fn();
  } finally {
    layers.forEach((l, i) => (l.training = before[i]));
  }
}

/**
 * A {@link Flow} with self-normalizing layers as a runner {@link DensityModel}: `logProb` is exact,
 * `loss` is `-mean(logProb)` with the layers in training mode (self-normalized gradient, reconstruction
 * penalty), i.e. the training step of the reference. `modeLayers` are other layers whose training mode
 * is set with them (e.g. `ConvExp`: fewer series terms and a power-iteration step).
 */
export class SelfNormFlowModel<B extends FlowBatch = FlowBatch> implements DensityModel<B> {
  constructor(
    readonly flow: Flow,
    readonly selfNormLayers: readonly SelfNormalizing[],
    readonly modeLayers: readonly TrainingMode[] = [],
  ) {}

  logProb(batch: B): tf.Tensor1D {
    return this.flow.logProb(batch.x, batch.context);
  }

  /** Reads the host tensors of the loss (`training`: layers in training mode) or of evaluation and sampling. */
  prepare(training: boolean): Promise<void> {
    return prepareFlow(this.flow, training, [...this.selfNormLayers, ...this.modeLayers]);
  }

  loss(batch: B): tf.Scalar {
    return withTraining(
      [...this.selfNormLayers, ...this.modeLayers],
      () => tf.tidy(() => tf.neg(tf.mean(this.logProb(batch)))),
    );
  }

  /** `n` samples; with `approximate` the layers invert with R (the reference's fast sampling). */
  sample(n: number, rng: Rng, approximate: boolean): tf.Tensor {
    return this.#withApprox(approximate, () => this.flow.sample(n, rng));
  }

  /**
   * `f^{-1}(f(x))` as values: with `approximate`, the self-normalizing layers invert with R, so the
   * difference to `x` shows how well R has learned W^{-1}.
   */
  async reconstruct(x: tf.Tensor, approximate: boolean): Promise<Float32Array> {
    await this.prepare(false);
    const t = this.#withApprox(approximate, () =>
      tf.tidy(() => {
        const f = this.flow.transform;
        return f.inverse(f.forward(x).y).y;
      }));
    try {
      return Float32Array.from(await t.data());
    } finally {
      t.dispose();
    }
  }

  #withApprox<T>(approximate: boolean, fn: () => T): T {
    const before = this.selfNormLayers.map((l) => l.approxInverse);
    for (const l of this.selfNormLayers) l.approxInverse = approximate;
    try {
      return fn();
    } finally {
      this.selfNormLayers.forEach((l, i) => (l.approxInverse = before[i]));
    }
  }

  parameters(): NamedTensors<tf.Variable> {
    return this.flow.parameters();
  }

  buffers(): NamedTensors<tf.Variable> {
    return this.flow.buffers();
  }
}
