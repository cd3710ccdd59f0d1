/**
 * The convolution exponential (Hoogeboom, Garcia Satorras, Tomczak & Welling 2020, "The Convolution
 * Exponential and Generalized Sylvester Flows", NeurIPS), in the form of the reference's `ConvExp`
 * (`snf/layers/convexp/`):
 *
 *   z = exp(M) (Q (x + a)) + c,    exp(M) v = sum_{k=0}^{T} M^k v / k!    (M: a 3 x 3 convolution)
 *   logDet = H W tr(K_centre) + log|det Q|                          (det exp(M) = exp(tr M))
 *
 * with Q an exact 1 x 1 convolution (no bias) and a, c per-value biases. The inverse is exp(-M), the same
 * series with -K. T is 6 while training and 13 otherwise (the reference's `n_terms_train` and
 * `n_terms_eval = 2 n_terms_train + 1`), so the training objective is the truncated series' own.
 *
 * Spectral normalisation, as the reference's `spectral_norm_conv` hook: the kernel used is
 *
 *   K' = K / (max(1, sigma / coeff) + 1e-5),    sigma = u . conv(v, K)    (coeff 0.9)
 *
 * where u (output) and v (input) are unit vectors kept between calls (buffers, saved with checkpoints).
 * Every forward in training mode first runs one power iteration from the stored vectors and stores
 * the result: v <- normalize(conv^T(u, K)), u <- normalize(conv(v, K)), both without gradient; the
 * gradient then flows through sigma to K (u, v constants). Out of training mode the stored vectors are
 * used as they are. So sigma is a running estimate that sharpens as training goes on, and a layer
 * evaluated before any training uses random vectors (sigma near 0: K' = K / (1 + 1e-5)), as the reference.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { childParameters, type NamedTensors } from "../nn/module.ts";
import { type Bijector, checkShape, type TrainingMode, type Transformed } from "./bijector.ts";
import { flipKernel, sameConv } from "./conv_utils.ts";
import { ExactConv } from "./exact.ts";
import { perExample } from "./per_example.ts";
import { stopGradient } from "./selfnorm.ts";

/** Options of {@link ConvExp}. */
export interface ConvExpOptions {
  /** Series terms T while training (default 6, the reference's). */
  readonly termsTrain?: number;
  /** Series terms T otherwise (default 2 termsTrain + 1 = 13, the reference's). */
  readonly termsEval?: number;
  /** Largest allowed spectral norm of the convolution (default 0.9). */
  readonly coeff?: number;
  /** Power iterations per training-mode call (default 1, the reference's). */
  readonly powerIterations?: number;
  /** Std of the initial kernel (default 1 / (9 C), the reference's `randn / prod(kernel_size[1:])`). */
  readonly initStd?: number;
}

/** `t / max(||t||, 1e-12)` (torch's `F.normalize`). */
function unit(t: tf.Tensor): tf.Tensor {
  return tf.div(t, tf.maximum(tf.norm(t), 1e-12));
}

/** The convolution exponential layer on `[B, H, W, C]` (see the module comment). */
export class ConvExp implements Bijector, TrainingMode {
  training = false;
  readonly kernel: tf.Variable;
  readonly preBias: tf.Variable;
  readonly postBias: tf.Variable;
  readonly conv1x1: ExactConv;
  /** Power-iteration vectors, `[1, H, W, C]` unit vectors (buffers): u of the output, v of the input. */
  readonly powerU: tf.Variable;
  readonly powerV: tf.Variable;
  readonly termsTrain: number;
  readonly termsEval: number;
  readonly #coeff: number;
  readonly #iters: number;

  constructor(
    readonly height: number,
    readonly width: number,
    readonly channels: number,
    rng: Rng,
    opts: ConvExpOptions = {},
  ) {
    const c = channels;
    this.termsTrain = opts.termsTrain ?? 6;
    this.termsEval = opts.termsEval ?? 2 * this.termsTrain + 1;
    this.#coeff = opts.coeff ?? 0.9;
    this.#iters = opts.powerIterations ?? 1;
    if (![this.termsTrain, this.termsEval, this.#iters].every((n) => Number.isInteger(n) && n >= 1)) {
      throw new Error(
        `ConvExp: termsTrain, termsEval and powerIterations must be integers >= 1, got ` +
          `${this.termsTrain}, ${this.termsEval}, ${this.#iters}`,
      );
    }
    this.kernel = tf.variable(tf.tensor4d(rng.normals(9 * c * c, opts.initStd ?? 1 / (9 * c)), [3, 3, c, c]));
    this.preBias = tf.variable(tf.zeros([height, width, c]));
    this.postBias = tf.variable(tf.zeros([height, width, c]));
    this.conv1x1 = new ExactConv({ height, width, channels: c, kernel: 1 }, rng, { bias: false });
    const randomUnit = () =>
      tf.variable(
        tf.tidy(() => unit(tf.tensor4d(rng.normals(height * width * c), [1, height, width, c]))),
        false,
      );
    this.powerV = randomUnit();
    this.powerU = randomUnit();
  }

  /** Series terms of the current mode. */
  get terms(): number {
    return this.training ? this.termsTrain : this.termsEval;
  }

  /** Runs the power iterations of a training-mode call on the stored vectors (no gradient). */
  #powerIterate(): void {
    tf.tidy(() => {
      const k = stopGradient(this.kernel as tf.Tensor4D);
      let u: tf.Tensor = this.powerU, v: tf.Tensor = this.powerV;
      for (let i = 0; i < this.#iters; i++) {
        v = unit(sameConv(u as tf.Tensor4D, flipKernel(k)));
        u = unit(sameConv(v as tf.Tensor4D, k));
      }
      this.powerV.assign(v);
      this.powerU.assign(u);
    });
  }

  /** The estimate `sigma = u . conv(v, K)` from the stored vectors, differentiable in the kernel. */
  spectralNorm(): tf.Scalar {
    return tf.tidy(() => tf.sum(tf.mul(this.powerU, sameConv(this.powerV as tf.Tensor4D, this.kernel))));
  }

  /**
   * The rescaled kernel `K / (max(1, sigma / coeff) + 1e-5)`; in training mode the stored vectors are
   * first advanced by the power iteration (a side effect, once per call, as the reference's hook).
   */
  effectiveKernel(): tf.Tensor4D {
    if (this.training) this.#powerIterate();
    return tf.tidy(() => {
      const factor = tf.add(tf.maximum(1, tf.div(this.spectralNorm(), this.#coeff)), 1e-5);
      return tf.div(this.kernel, factor) as tf.Tensor4D;
    });
  }

  #series(v: tf.Tensor4D, k: tf.Tensor): tf.Tensor4D {
    let term = v, sum = v;
    for (let i = 1; i <= this.terms; i++) {
      term = tf.div(sameConv(term, k), i);
      sum = tf.add(sum, term);
    }
    return sum;
  }

  #traceLogDet(k: tf.Tensor): tf.Scalar {
    const c = this.channels;
    const centre = tf.slice(k, [1, 1, 0, 0], [1, 1, c, c]).reshape([c, c]);
    return tf.mul(tf.sum(tf.mul(centre, tf.eye(c))), this.height * this.width);
  }

  forward(x: tf.Tensor): Transformed {
    checkShape("ConvExp.forward", "input", x, [this.height, this.width, this.channels]);
    return tf.tidy(() => {
      const k = this.effectiveKernel();
      const q = this.conv1x1.forward(tf.add(x, this.preBias));
      const z = tf.add(this.#series(q.y as tf.Tensor4D, k), this.postBias);
      return { y: z, logDet: tf.add(q.logDet, perExample(this.#traceLogDet(k), x.shape[0])) as tf.Tensor1D };
    });
  }

  /** exp(-M) by the same series (in training mode, too, after a power iteration, as the reference). */
  inverse(z: tf.Tensor): Transformed {
    checkShape("ConvExp.inverse", "input", z, [this.height, this.width, this.channels]);
    return tf.tidy(() => {
      const k = this.effectiveKernel();
      const v = this.#series(tf.sub(z, this.postBias) as tf.Tensor4D, tf.neg(k));
      const q = this.conv1x1.inverse(v);
      const logDet = tf.sub(q.logDet, perExample(this.#traceLogDet(k), z.shape[0])) as tf.Tensor1D;
      return { y: tf.sub(q.y, this.preBias), logDet };
    });
  }

  /** Those of the exact 1 x 1 convolution Q. */
  hostTensors(): tf.Tensor[] {
    return this.conv1x1.hostTensors();
  }

  parameters(): NamedTensors<tf.Variable> {
    return [
      ["kernel", this.kernel],
      ["pre_bias", this.preBias],
      ["post_bias", this.postBias],
      ...childParameters({ conv1x1: this.conv1x1 }),
    ];
  }

  buffers(): NamedTensors<tf.Variable> {
    return [["power_u", this.powerU], ["power_v", this.powerV]];
  }
}
