/**
 * The standard normal base distribution N(0, I) over events of a fixed shape:
 *
 *   log p(z) = -1/2 sum_i z_i^2 - D/2 log(2 pi),   D = number of values per example.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";

const LOG_2PI = Math.log(2 * Math.PI);

export class StandardNormal {
  /** Values per example. */
  readonly dim: number;

  /** `eventShape` is the shape of one example, e.g. `[2]` or `[28, 28, 1]`. */
  constructor(readonly eventShape: readonly number[]) {
    if (eventShape.length === 0 || eventShape.some((d) => !(Number.isInteger(d) && d >= 1))) {
      throw new Error(`StandardNormal: eventShape must be positive integers, got [${eventShape}]`);
    }
    this.dim = eventShape.reduce((a, b) => a * b, 1);
  }

  /** Log-density of each example of `z: [batch, ...eventShape]`, shape `[batch]`. */
  logProb(z: tf.Tensor): tf.Tensor1D {
    if (z.shape.slice(1).join() !== this.eventShape.join()) {
      throw new Error(`StandardNormal: z must have shape [batch, ${this.eventShape}], got [${z.shape}]`);
    }
    return tf.tidy(() => {
      const sq = tf.sum(tf.square(z.reshape([z.shape[0], this.dim])), 1);
      return tf.sub(tf.mul(sq, -0.5), 0.5 * this.dim * LOG_2PI) as tf.Tensor1D;
    });
  }

  /** `n` draws, `[n, ...eventShape]`, from `rng` (so a seed fixes them on every backend). */
  sample(n: number, rng: Rng): tf.Tensor {
    if (!(Number.isInteger(n) && n >= 1)) throw new Error(`StandardNormal.sample: n must be >= 1, got ${n}`);
    return tf.tensor(rng.normals(n * this.dim), [n, ...this.eventShape]);
  }
}
