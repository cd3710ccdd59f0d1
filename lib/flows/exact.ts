/**
 * Exact dense linear flows: `z = W x + b` with the log-determinant by an LU decomposition (the
 * "Exact" baselines of Keller et al. 2021, "Self Normalizing Flows", ICML).
 *
 *   forward:  z = W x + b,          logDet = log |det W|          (gradient W^{-T}, an O(D^3) solve)
 *   inverse:  x = W^{-1} (z - b),   logDet = -log |det W|
 *
 * The variable `weight` holds `W^T` (`[in, out]`, the layout of `Linear`), so batches `[B, D]` go
 * through plain products `x W^T` without transpose flags (slow on the wasm backend; see `matMulFastGrad`).
 * Inputs of any trailing shape are flattened per example (`[B, 28, 28, 1]` is treated as `[B, 784]`) and
 * the output keeps the input's shape, so the layer composes with image layers. Initialisation follows the
 * reference implementation: W = I (plus optional Gaussian noise), b ~ N(0, std(W)^2).
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { NamedTensors } from "../nn/module.ts";
import { inverse, slogdet, transposed32 } from "../linalg.ts";
import { matMulFastGrad } from "../nn/linear.ts";
import { type Bijector, checkShape, type Transformed } from "./bijector.ts";
import { ConvLu } from "./conv_lu.ts";
import {
  checkGeometry,
  type ConvGeometry,
  denseIndex,
  denseMatrix,
  diracKernel,
  randomOrthogonal,
  sameConv,
} from "./conv_utils.ts";
import { flatten2d, perExample } from "./per_example.ts";

/** Initialisation of the square dense layers. */
export interface SquareInitOptions {
  /** Standard deviation of Gaussian noise added to the identity (default 0: W = I exactly). */
  readonly noise?: number;
  /** Whether to learn a bias (default true). */
  readonly bias?: boolean;
}

/** `I + noise * N(0, 1)` as a row-major `dim x dim` Float32Array. */
export function noisyIdentity(dim: number, rng: Rng, noise = 0): Float32Array {
  const w = noise > 0 ? rng.normals(dim * dim, noise) : new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) w[i * dim + i] += 1;
  return w;
}

/** Population standard deviation of the entries (the reference draws the bias with this std). */
export function entryStd(values: Float32Array): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= values.length;
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return Math.sqrt(sq / values.length);
}

/** The exact dense linear flow (see the module comment). */
export class ExactFC implements Bijector {
  /** `W^T`, `[D, D]`: `z = x weight + b` per row. */
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(readonly dim: number, rng: Rng, opts: SquareInitOptions = {}) {
    if (!(Number.isInteger(dim) && dim >= 1)) throw new Error(`ExactFC: dim must be >= 1, got ${dim}`);
    const w = noisyIdentity(dim, rng, opts.noise ?? 0);
    this.weight = tf.variable(tf.tensor2d(transposed32(w, dim), [dim, dim]));
    this.bias = opts.bias === false ? null : tf.variable(tf.tensor1d(rng.normals(dim, entryStd(w))));
  }

  /** `W x + b` for the rows of `x: [B, D]`. */
  affine(x: tf.Tensor2D): tf.Tensor2D {
    const wx = matMulFastGrad(x, this.weight as tf.Tensor2D);
    return this.bias ? tf.add(wx, this.bias) : wx;
  }

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const z = this.affine(flatten2d("ExactFC.forward", x, this.dim));
      return { y: z.reshape(x.shape), logDet: perExample(slogdet(this.weight as tf.Tensor2D), x.shape[0]) };
    });
  }

  inverse(z: tf.Tensor): Transformed {
    return tf.tidy(() => {
      let v = flatten2d("ExactFC.inverse", z, this.dim);
      if (this.bias) v = tf.sub(v, this.bias);
      const x = matMulFastGrad(v, inverse(this.weight as tf.Tensor2D));
      const logDet = perExample(tf.neg(slogdet(this.weight as tf.Tensor2D)), z.shape[0]);
      return { y: x.reshape(z.shape), logDet };
    });
  }

  /** The weight: both directions factorise it on the host. */
  hostTensors(): tf.Tensor[] {
    return [this.weight];
  }

  parameters(): NamedTensors<tf.Variable> {
    return this.bias ? [["weight", this.weight], ["bias", this.bias]] : [["weight", this.weight]];
  }
}

/** Initialisation of the k x k convolutional layers. */
export interface ConvInitOptions {
  /** Std of the Gaussian noise on the identity kernel (default: Xavier-normal with gain 0.01, as the reference). */
  readonly noise?: number;
  /** Whether to learn a bias (default true). */
  readonly bias?: boolean;
}

/**
 * The exact k x k convolutional flow (zero "same" padding, stride 1, C -> C channels) on `[B, H, W, C]`:
 *
 *   forward:  z = conv(x, K) + b,        logDet = log |det M(K)|
 *   inverse:  x = M(K)^{-1} (z - b)
 *
 * where M(K) is the `HWC x HWC` matrix of the convolution, built from the kernel's values on the host and
 * factorised by LU there (`conv_lu.ts`; the gradient M^{-T} summed onto the taps): the "equivalent dense
 * matrix" method of the reference's exact CNN (`SelfNormConv` with `compute_expensive`). The kernel is
 * read on the host ({@link ExactConv.hostTensors}). O((HWC)^3) per step: meant for
 * MNIST-sized images (HWC = 784 at every scale of the 28 x 28 models). For k = 1 (Glow's invertible 1 x 1
 * convolution, Kingma & Dhariwal 2018) M is block diagonal: log|det M| = H W log|det K_c| of the C x C
 * matrix, and the inverse is the 1 x 1 convolution with K_c^{-1}. Init: identity kernel plus noise; for
 * k = 1 a random orthogonal matrix (both as the reference).
 */
export class ExactConv implements Bijector {
  /** `[k, k, C, C]`. */
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly dim: number;
  #index: Int32Array | null = null;
  readonly #lu: ConvLu;

  constructor(readonly geometry: ConvGeometry, rng: Rng, opts: ConvInitOptions = {}) {
    checkGeometry("ExactConv", geometry);
    const { channels: c, kernel: k } = geometry;
    this.dim = geometry.height * geometry.width * c;
    const std = opts.noise ?? 0.01 * Math.sqrt(1 / (c * k * k));
    const w = k === 1 && opts.noise === undefined
      ? randomOrthogonal(c, rng)
      : diracKernel(k, c, (n) => rng.normals(n, std));
    this.weight = tf.variable(tf.tensor4d(w, [k, k, c, c]));
    this.bias = opts.bias === false ? null : tf.variable(tf.tensor1d(rng.normals(c, std)));
    this.#lu = new ConvLu(geometry);
  }

  /** The dense matrix M(K) (built on demand from a cached index). */
  dense(): tf.Tensor2D {
    return this.denseOf(this.weight);
  }

  /** The dense matrix of the convolution with another kernel of this layer's shape and geometry. */
  denseOf(kernel: tf.Tensor): tf.Tensor2D {
    this.#index ??= denseIndex(this.geometry);
    const index = this.#index;
    return denseMatrix(kernel, index, this.dim);
  }

  /**
   * `log |det M(kernel)|` as a differentiable scalar (block-diagonal shortcut for k = 1); `kernel` is read
   * on the host, so on WebGPU it must be one of the {@link hostTensors} of a layer (here or
   * `SelfNormConv`).
   */
  logAbsDet(kernel: tf.Tensor): tf.Scalar {
    return this.#lu.logAbsDet(kernel);
  }

  #check(who: string, x: tf.Tensor): void {
    const { height: h, width: w, channels: c } = this.geometry;
    checkShape(`ExactConv.${who}`, "input", x, [h, w, c]);
  }

  /** `conv(x, K) + b`. */
  affine(x: tf.Tensor4D): tf.Tensor4D {
    const z = sameConv(x, this.weight);
    return this.bias ? tf.add(z, this.bias) : z;
  }

  forward(x: tf.Tensor): Transformed {
    this.#check("forward", x);
    return tf.tidy(() => ({
      y: this.affine(x as tf.Tensor4D),
      logDet: perExample(this.logAbsDet(this.weight), x.shape[0]),
    }));
  }

  inverse(z: tf.Tensor): Transformed {
    this.#check("inverse", z);
    return tf.tidy(() => {
      const v = this.bias ? tf.sub(z, this.bias) : z;
      const inv = this.#lu.inverse(this.weight);
      let x: tf.Tensor;
      if (this.geometry.kernel === 1) x = sameConv(v as tf.Tensor4D, inv);
      else {
        const rows = v.reshape([z.shape[0], this.dim]) as tf.Tensor2D;
        x = matMulFastGrad(rows, tf.transpose(inv) as tf.Tensor2D).reshape(z.shape);
      }
      return { y: x, logDet: perExample(tf.neg(this.logAbsDet(this.weight)), z.shape[0]) };
    });
  }

  /** The kernel: both directions factorise its matrix on the host. */
  hostTensors(): tf.Tensor[] {
    return [this.weight];
  }

  parameters(): NamedTensors<tf.Variable> {
    return this.bias ? [["weight", this.weight], ["bias", this.bias]] : [["weight", this.weight]];
  }
}
