/**
 * The time-varying Gaussian mixture baseline (`gmm_esn` / `gmm_rnn` of the original design): a network maps
 * the context h = h_{t-1} to the weights, means and standard deviations of a K-component diagonal Gaussian
 * mixture for the frame x_t:
 *
 *   q = relu(... relu(W_1 h + c_1) ...)                     (numHiddenLayers layers of width l)
 *   log w = logsoftmax(W_w q + c_w),  mu_k = W_mu q + c_mu,  sigma_k = softplus(W_s q + c_s) + minStd
 *   log p(x | h) = logsumexp_k(log w_k + sum_d log N(x_d; mu_kd, sigma_kd))
 *
 * The softplus-plus-floor keeps every variance positive and bounded below, so a component cannot collapse
 * onto one frame and send the likelihood to infinity (Bishop, PRML 2006, sec. 9.2.1).
 */
import * as tf from "@tensorflow/tfjs";
import { dense } from "../nn/conditioner.ts";
import { Linear } from "../nn/linear.ts";
import { childParameters, type NamedTensors } from "../nn/module.ts";
import type { Rng } from "../rng.ts";
import type { FrameDensity } from "./mixture.ts";
import { constantMatMul } from "./products.ts";

const LOG_2PI = Math.log(2 * Math.PI);

/** Sizes of a {@link ContextGmm}. */
export interface ContextGmmOptions {
  readonly frameDim: number;
  readonly contextDim: number;
  /** Number of components K (config `n_components`). */
  readonly numComponents: number;
  readonly hiddenDim: number;
  /** Hidden layers before the heads (>= 1). */
  readonly numHiddenLayers: number;
  /** Floor of every standard deviation (default 1e-3). */
  readonly minStd?: number;
}

/** Mixture parameters per row: `logW: [R, K]`, `mu` and `sigma`: `[R, K, D]`. */
export interface GmmParams {
  readonly logW: tf.Tensor2D;
  readonly mu: tf.Tensor3D;
  readonly sigma: tf.Tensor3D;
}

/** The time-varying diagonal Gaussian mixture `p(x_t | h_{t-1})` (see the module doc). */
export class ContextGmm implements FrameDensity {
  readonly hidden: readonly Linear[];
  readonly weightHead: Linear;
  readonly meanHead: Linear;
  readonly stdHead: Linear;
  readonly minStd: number;

  constructor(readonly opts: ContextGmmOptions, rng: Rng) {
    const { frameDim: d, contextDim: n, numComponents: k, hiddenDim: l, numHiddenLayers: layers } = opts;
    const sizes = {
      frame_dim: d,
      context_dim: n,
      n_components: k,
      hidden_layer_dim: l,
      num_hidden_layers: layers,
    };
    for (const [key, v] of Object.entries(sizes)) {
      if (!(Number.isInteger(v) && v >= 1)) {
        throw new Error(`ContextGmm: ${key} must be an integer >= 1, got ${v}`);
      }
    }
    this.hidden = Array.from({ length: layers }, (_, i) => new Linear(i === 0 ? n : l, l, rng));
    this.weightHead = new Linear(l, k, rng);
    this.meanHead = new Linear(l, k * d, rng);
    this.stdHead = new Linear(l, k * d, rng);
    this.minStd = opts.minStd ?? 1e-3;
  }

  get frameDim(): number {
    return this.opts.frameDim;
  }

  get contextDim(): number {
    return this.opts.contextDim;
  }

  /** The mixture of each row's context `h: [R, N]` (`constant`: `h` needs no gradient). */
  params(h: tf.Tensor2D, constant = false): GmmParams {
    const { numComponents: k, frameDim: d } = this.opts;
    const rows = h.shape[0];
    const [first, ...rest] = this.hidden;
    let q = constant
      ? tf.relu(tf.add(constantMatMul(h, first.weight as tf.Tensor2D), first.bias!)) as tf.Tensor2D
      : dense(h, first, "relu");
    for (const layer of rest) q = dense(q, layer, "relu");
    const sigma = tf.add(tf.softplus(dense(q, this.stdHead, "linear")), this.minStd);
    return {
      logW: tf.logSoftmax(dense(q, this.weightHead, "linear")),
      mu: tf.reshape(dense(q, this.meanHead, "linear"), [rows, k, d]),
      sigma: tf.reshape(sigma, [rows, k, d]),
    };
  }

  logProb(x: tf.Tensor2D, h: tf.Tensor2D, constant = false): tf.Tensor1D {
    if (x.shape[1] !== this.frameDim || h.shape[1] !== this.contextDim || x.shape[0] !== h.shape[0]) {
      throw new Error(
        `ContextGmm.logProb: x [${x.shape}] and h [${h.shape}] must be [R, ${this.frameDim}] and [R, ${this.contextDim}]`,
      );
    }
    const { logW, mu, sigma } = this.params(h, constant);
    const u = tf.div(tf.sub(tf.expandDims(x, 1), mu), sigma); // [R, K, D]
    const comp = tf.sub(
      tf.mul(-0.5, tf.sum(tf.square(u), -1)),
      tf.add(tf.sum(tf.log(sigma), -1), 0.5 * this.frameDim * LOG_2PI),
    ); // [R, K]
    return tf.logSumExp(tf.add(comp, logW), 1) as tf.Tensor1D;
  }

  async sample(h: tf.Tensor2D, rng: Rng): Promise<tf.Tensor2D> {
    const { numComponents: k, frameDim: d } = this.opts;
    const rows = h.shape[0];
    const w = tf.tidy(() => tf.exp(this.params(h).logW));
    const values = await w.data();
    w.dispose();
    const choice = new Int32Array(rows);
    for (let r = 0; r < rows; r++) choice[r] = rng.categorical(values.subarray(r * k, (r + 1) * k));
    const noise = rng.normals(rows * d);
    return tf.tidy(() => {
      const { mu, sigma } = this.params(h);
      const onehot = tf.expandDims(tf.oneHot(tf.tensor1d(choice, "int32"), k).toFloat(), 2); // [R, K, 1]
      const m = tf.sum(tf.mul(mu, onehot), 1), s = tf.sum(tf.mul(sigma, onehot), 1);
      return tf.add(m, tf.mul(s, tf.tensor2d(noise, [rows, d])));
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters({
      ...Object.fromEntries(this.hidden.map((l, i) => [`hidden/${i}`, l])),
      weights: this.weightHead,
      means: this.meanHead,
      stds: this.stdHead,
    });
  }
}
