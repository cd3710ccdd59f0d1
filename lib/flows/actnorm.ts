/**
 * Activation normalisation (Kingma & Dhariwal 2018, "Glow", Sec. 3.1): a per-channel affine map whose
 * parameters are set from the first batch it sees, so that the output has zero mean and unit variance
 * per channel, and are trained freely afterwards.
 *
 *   forward:  z = (x - t) * exp(-s),   logDet = -(values per channel) * sum_c s_c
 *   init:     t_c = mean of channel c, s_c = log(std_c + 1e-8)  over the batch (and pixels)
 *
 * Channels are the last axis (`[B, D]` vectors: D channels; `[B, H, W, C]` images: C channels). Whether
 * the layer was initialised is a buffer (`initialized`), so a restored checkpoint is not re-initialised.
 */
import * as tf from "@tensorflow/tfjs";
import { hostData } from "../host_read.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Bijector, Transformed } from "./bijector.ts";

/** Per-channel affine normalisation with data-dependent initialisation (see the module comment). */
export class ActNorm implements Bijector {
  readonly translation: tf.Variable;
  readonly logScale: tf.Variable;
  /** 1 once initialised from data, else 0. */
  readonly initialized: tf.Variable;

  constructor(readonly channels: number) {
    if (!(Number.isInteger(channels) && channels >= 1)) {
      throw new Error(`ActNorm: channels must be >= 1, got ${channels}`);
    }
    this.translation = tf.variable(tf.zeros([channels]));
    this.logScale = tf.variable(tf.zeros([channels]));
    this.initialized = tf.variable(tf.scalar(0), false);
  }

  #known = false;

  /** Whether the layer was initialised (read back until it was; a restored buffer of 1 counts). */
  get isInitialized(): boolean {
    this.#known ||= hostData(this.initialized, "ActNorm")[0] === 1;
    return this.#known;
  }

  /** The `initialized` flag, until it is known to be set. */
  hostTensors(): tf.Tensor[] {
    return this.#known ? [] : [this.initialized];
  }

  #check(who: string, x: tf.Tensor): void {
    if (x.rank < 2 || x.shape[x.rank - 1] !== this.channels) {
      throw new Error(
        `ActNorm.${who}: expected ${this.channels} channels (last axis), got shape [${x.shape}]`,
      );
    }
  }

  /** Sets t and s from the batch `x` (the data-dependent initialisation) and marks the layer initialised. */
  initialize(x: tf.Tensor): void {
    this.#check("initialize", x);
    tf.tidy(() => {
      const rows = x.reshape([-1, this.channels]);
      const n = rows.shape[0];
      const { mean, variance } = tf.moments(rows, 0);
      // Unbiased std, as the reference (torch.std).
      const std = tf.sqrt(tf.mul(variance, n / Math.max(1, n - 1)));
      this.translation.assign(mean);
      this.logScale.assign(tf.log(tf.add(std, 1e-8)));
      this.initialized.assign(tf.scalar(1));
    });
    this.#known = true;
  }

  forward(x: tf.Tensor): Transformed {
    this.#check("forward", x);
    if (!this.isInitialized) this.initialize(x);
    return tf.tidy(() => {
      const y = tf.mul(tf.sub(x, this.translation), tf.exp(tf.neg(this.logScale)));
      const perChannel = x.size / x.shape[0] / this.channels;
      const logDet = tf.mul(tf.ones([x.shape[0]]), tf.mul(tf.sum(this.logScale), -perChannel));
      return { y, logDet: logDet as tf.Tensor1D };
    });
  }

  inverse(z: tf.Tensor): Transformed {
    this.#check("inverse", z);
    return tf.tidy(() => {
      const x = tf.add(tf.mul(z, tf.exp(this.logScale)), this.translation);
      const perChannel = z.size / z.shape[0] / this.channels;
      const logDet = tf.mul(tf.ones([z.shape[0]]), tf.mul(tf.sum(this.logScale), perChannel));
      return { y: x, logDet: logDet as tf.Tensor1D };
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["translation", this.translation], ["log_scale", this.logScale]];
  }

  buffers(): NamedTensors<tf.Variable> {
    return [["initialized", this.initialized]];
  }
}
