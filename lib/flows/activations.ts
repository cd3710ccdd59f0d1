/**
 * Invertible elementwise activations with log-determinants, for the fully connected and convolutional
 * self-normalizing flows (Keller et al. 2021, "Self Normalizing Flows", ICML, Sec. 5).
 *
 *   SLR (smooth leaky ReLU):   y = a x + (1 - a) softplus(x),   y' = a + (1 - a) sigmoid(x)
 *   LLR (learnable leaky ReLU): y = x (x >= 0), alpha x (x < 0),  alpha = sigmoid(p) + 1/2
 *
 * `logDet = sum_i log |y'(x_i)|` over every value of an example. SLR has no closed-form inverse: it is
 * inverted by Newton's method from x = y (f is convex and increasing with f' >= a, so Newton converges from
 * any start: after the first step from the right, monotonically and then quadratically). Where convergence
 * cannot be read synchronously (WebGPU) it runs {@link UNCHECKED_NEWTON_STEPS} steps. The rational-quadratic
 * spline activation is in `spline.ts`.
 */
import * as tf from "@tensorflow/tfjs";
import { readsSynchronously } from "../host_read.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Bijector, Transformed } from "./bijector.ts";
import { constantOf, sumPerExample } from "./per_example.ts";

/**
 * Newton steps of the SLR inverse where convergence is not checked (WebGPU). From x = y, on cpu in float32,
 * y in {0, ±0.1, ±1, ±8, ±60, ±1e3, ±1e4} came within 2 ulp of the 20th step's value in at most 4 steps
 * (a flip of the last place may persist after); `tests/webgpu_readback_test.ts` checks the round trip.
 */
export const UNCHECKED_NEWTON_STEPS = 12;

/** Options of {@link SmoothLeakyRelu}. */
export interface SmoothLeakyReluOptions {
  /** Slope a of the linear part, in (0, 1] (default 0.3, the reference's). */
  readonly alpha?: number;
  /** Maximum Newton iterations of the inverse (default 100). */
  readonly maxIters?: number;
  /**
   * Stop when max |f(x) - y| falls below this (default 1e-6; checked every 10 iterations on backends
   * that read synchronously; WebGPU, which cannot, runs {@link UNCHECKED_NEWTON_STEPS}).
   */
  readonly tol?: number;
}

/** The smooth leaky ReLU `y = a x + (1 - a) log(1 + e^x)`; no parameters. */
export class SmoothLeakyRelu implements Bijector {
  readonly alpha: number;
  readonly #maxIters: number;
  readonly #tol: number;

  constructor(opts: SmoothLeakyReluOptions = {}) {
    this.alpha = opts.alpha ?? 0.3;
    if (!(this.alpha > 0 && this.alpha <= 1)) {
      throw new Error(`SmoothLeakyRelu: alpha must be in (0, 1], got ${this.alpha}`);
    }
    this.#maxIters = opts.maxIters ?? 100;
    this.#tol = opts.tol ?? 1e-6;
  }

  #f(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.mul(x, this.alpha), tf.mul(tf.softplus(x), 1 - this.alpha));
  }

  #fPrime(x: tf.Tensor): tf.Tensor {
    return tf.add(tf.mul(tf.sigmoid(x), 1 - this.alpha), this.alpha);
  }

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => ({ y: this.#f(x), logDet: sumPerExample(tf.log(this.#fPrime(x))) }));
  }

  inverse(y: tf.Tensor): Transformed {
    let x = tf.clone(y);
    const check = readsSynchronously();
    const steps = check ? this.#maxIters : Math.min(this.#maxIters, UNCHECKED_NEWTON_STEPS);
    for (let i = 1; i <= steps; i++) {
      const next = tf.tidy(() => tf.sub(x, tf.div(tf.sub(this.#f(x), y), this.#fPrime(x))));
      x.dispose();
      x = next;
      if (
        check && i % 10 === 0 &&
        tf.tidy(() => tf.max(tf.abs(tf.sub(this.#f(x), y))).dataSync()[0]) < this.#tol
      ) {
        break;
      }
    }
    try {
      return tf.tidy(() => ({ y: tf.clone(x), logDet: tf.neg(sumPerExample(tf.log(this.#fPrime(x)))) }));
    } finally {
      x.dispose();
    }
  }

  parameters(): NamedTensors<tf.Variable> {
    return [];
  }
}

/** The learnable leaky ReLU; one parameter `alpha_logit` p, `alpha = sigmoid(p) + 1/2` in (1/2, 3/2). */
export class LearnableLeakyRelu implements Bijector {
  readonly alphaLogit: tf.Variable;

  /** `alphaLogit` is the initial p (default 0: alpha = 1, the identity, as in the reference). */
  constructor(alphaLogit = 0) {
    this.alphaLogit = tf.variable(tf.scalar(alphaLogit));
  }

  #alpha(): tf.Scalar {
    return tf.add(tf.sigmoid(this.alphaLogit), 0.5);
  }

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const alpha = this.#alpha();
      const neg = constantOf((v) => tf.less(v, 0), x);
      const y = tf.where(neg, tf.mul(x, alpha), x);
      return { y, logDet: tf.mul(sumPerExample(tf.cast(neg, "float32")), tf.log(alpha)) as tf.Tensor1D };
    });
  }

  inverse(y: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const alpha = this.#alpha();
      const neg = constantOf((v) => tf.less(v, 0), y);
      const x = tf.where(neg, tf.div(y, alpha), y);
      const logDet = tf.neg(tf.mul(sumPerExample(tf.cast(neg, "float32")), tf.log(alpha))) as tf.Tensor1D;
      return { y: x, logDet };
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["alpha_logit", this.alphaLogit]];
  }
}
export { SplineActivation, type SplineOptions } from "./spline.ts";
