/**
 * The convolution exponential (Hoogeboom, Garcia Satorras, Tomczak & Welling 2020, "The Convolution
 * Exponential and Generalized Sylvester Flows", NeurIPS), in the form of the reference's `ConvExp`:
 *
 *   z = exp(M) (Q (x + a)) + c,    exp(M) v = sum_{k=0}^{T} M^k v / k!    (M: a 3 x 3 convolution)
 *   logDet = H W tr(K_centre) + log|det Q|                          (det exp(M) = exp(tr M))
 *
 * with Q an exact 1 x 1 convolution and a, c per-value biases. The inverse is exp(-M), the same series
 * with -K. For the series to converge fast, the kernel is rescaled to spectral norm at most `coeff`
 * (0.9) as in the reference: K <- K / max(1, sigma / coeff), sigma estimated by power iteration on the
 * convolution (from a fixed start vector, so the layer is a deterministic function of its parameters;
 * the estimate is held constant for the gradient, as the reference's `no_grad`).
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { childParameters, type NamedTensors } from "../nn/module.ts";
import { type Bijector, checkShape, type Transformed } from "./bijector.ts";
import { flipKernel, sameConv } from "./conv_utils.ts";
import { ExactConv } from "./exact.ts";
import { constantOf, perExample } from "./per_example.ts";

/** Options of {@link ConvExp}. */
export interface ConvExpOptions {
  /** Series terms T (default 10: error below (0.9)^11 / 11! relative). */
  readonly terms?: number;
  /** Largest allowed spectral norm of the convolution (default 0.9). */
  readonly coeff?: number;
  /** Power iterations per call (default 5). */
  readonly powerIterations?: number;
  /** Std of the initial kernel (default 1 / (9 C), the reference's `randn / prod(kernel_size[1:])`). */
  readonly initStd?: number;
}

/** The convolution exponential layer on `[B, H, W, C]` (see the module comment). */
export class ConvExp implements Bijector {
  readonly kernel: tf.Variable;
  readonly preBias: tf.Variable;
  readonly postBias: tf.Variable;
  readonly conv1x1: ExactConv;
  /** The fixed start vector of the power iteration (a buffer, so checkpoints keep it). */
  readonly powerStart: tf.Variable;
  readonly #terms: number;
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
    this.#terms = opts.terms ?? 10;
    this.#coeff = opts.coeff ?? 0.9;
    this.#iters = opts.powerIterations ?? 5;
    this.kernel = tf.variable(tf.tensor4d(rng.normals(9 * c * c, opts.initStd ?? 1 / (9 * c)), [3, 3, c, c]));
    this.preBias = tf.variable(tf.zeros([height, width, c]));
    this.postBias = tf.variable(tf.zeros([height, width, c]));
    this.conv1x1 = new ExactConv({ height, width, channels: c, kernel: 1 }, rng, { bias: false });
    this.powerStart = tf.variable(tf.tensor4d(rng.normals(height * width * c), [1, height, width, c]), false);
  }

  /** Spectral norm estimate of the convolution with `k` (a constant of the gradient tape). */
  spectralNorm(k: tf.Tensor): tf.Scalar {
    const iterate = (kk: tf.Tensor, v0: tf.Tensor) => {
      const unit = (t: tf.Tensor) => tf.div(t, tf.add(tf.norm(t), 1e-12));
      let v = unit(v0);
      let u = unit(sameConv(v as tf.Tensor4D, kk));
      for (let i = 0; i < this.#iters; i++) {
        v = unit(sameConv(u as tf.Tensor4D, flipKernel(kk)));
        u = unit(sameConv(v as tf.Tensor4D, kk));
      }
      return tf.sum(tf.mul(u, sameConv(v as tf.Tensor4D, kk)));
    };
    return constantOf(iterate, k, this.powerStart) as tf.Scalar;
  }

  /** The rescaled kernel K / max(1, sigma / coeff). */
  effectiveKernel(): tf.Tensor4D {
    return tf.tidy(() => {
      const sigma = this.spectralNorm(this.kernel);
      return tf.div(this.kernel, tf.maximum(1, tf.div(sigma, this.#coeff))) as tf.Tensor4D;
    });
  }

  #series(v: tf.Tensor4D, k: tf.Tensor): tf.Tensor4D {
    let term = v, sum = v;
    for (let i = 1; i <= this.#terms; i++) {
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

  parameters(): NamedTensors<tf.Variable> {
    return [
      ["kernel", this.kernel],
      ["pre_bias", this.preBias],
      ["post_bias", this.postBias],
      ...childParameters({ conv1x1: this.conv1x1 }),
    ];
  }

  buffers(): NamedTensors<tf.Variable> {
    return [["power_start", this.powerStart]];
  }
}
