/**
 * The image preprocessing chain of the Self-Normalizing Flows experiments, as flow layers with log-dets,
 * so that likelihoods are reported for the discrete data (Theis, van den Oord & Bethge 2016; Dinh et al.
 * 2017, "Real NVP", Sec. 4.1):
 *
 *   Dequantize:  y = x + u,  u ~ U[0, 1)^D          logDet = -log q(u) = 0       (inverse: floor)
 *   Normalize:   y = (x - t) / s                     logDet = -D log s
 *   Logit:       y = log x - log(1 - x)              logDet = -sum_i [log x_i + log(1 - x_i)]
 *
 * With pixel values in {0, ..., 255}, `Dequantize -> Normalize(0, 256) -> Normalize(-a, 1 / (1 - 2a)) ->
 * Logit` ({@link imagePreprocessing}) maps to the real line, and `-log p` of the whole flow is the
 * (variational) negative log-likelihood of the 8-bit image in nats; bits per dimension are
 * `nats / (D ln 2)`.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Bijector, Transformed } from "./bijector.ts";
import { perExample, sumPerExample } from "./per_example.ts";

const zeroLogDet = (x: tf.Tensor) => tf.zeros([x.shape[0]]) as tf.Tensor1D;

/** Uniform dequantization; noise drawn with seeds from its own {@link Rng}, so a seed fixes it. */
export class Dequantize implements Bijector {
  constructor(readonly rng: Rng) {}

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => ({
      y: tf.add(x, tf.randomUniform(x.shape, 0, 1, "float32", this.rng.seed())),
      logDet: zeroLogDet(x),
    }));
  }

  inverse(z: tf.Tensor): Transformed {
    return tf.tidy(() => ({ y: tf.floor(z), logDet: zeroLogDet(z) }));
  }

  parameters(): NamedTensors<tf.Variable> {
    return [];
  }
}

/** The fixed affine map `y = (x - translation) / scale` on every value. */
export class Normalize implements Bijector {
  constructor(readonly translation: number, readonly scale: number) {
    if (!(scale > 0) || !Number.isFinite(translation)) {
      throw new Error(`Normalize: need a finite translation and scale > 0, got ${translation}, ${scale}`);
    }
  }

  #logDet(x: tf.Tensor, sign: number): tf.Tensor1D {
    return perExample(tf.scalar((-sign * (x.size / x.shape[0])) * Math.log(this.scale)), x.shape[0]);
  }

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => ({
      y: tf.div(tf.sub(x, this.translation), this.scale),
      logDet: this.#logDet(x, 1),
    }));
  }

  inverse(z: tf.Tensor): Transformed {
    return tf.tidy(() => ({
      y: tf.add(tf.mul(z, this.scale), this.translation),
      logDet: this.#logDet(z, -1),
    }));
  }

  parameters(): NamedTensors<tf.Variable> {
    return [];
  }
}

/** `y = logit(x)` on values in (0, 1); inverse: sigmoid. */
export class Logit implements Bijector {
  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const logX = tf.log(x), log1mX = tf.log1p(tf.neg(x));
      return { y: tf.sub(logX, log1mX), logDet: tf.neg(sumPerExample(tf.add(logX, log1mX))) };
    });
  }

  inverse(z: tf.Tensor): Transformed {
    return tf.tidy(() => {
      // log sigmoid(z) + log(1 - sigmoid(z)) = -softplus(-z) - softplus(z), stable for large |z|.
      const logDeriv = tf.neg(tf.add(tf.softplus(tf.neg(z)), tf.softplus(z)));
      return { y: tf.sigmoid(z), logDet: sumPerExample(logDeriv) };
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return [];
  }
}

/**
 * The reference's chain for 8-bit images: Dequantize, Normalize(0, 256), Normalize(-alpha, 1/(1-2 alpha)),
 * Logit. `alpha` (default 1e-6) keeps the logit's argument away from 0 and 1.
 */
export function imagePreprocessing(rng: Rng, alpha = 1e-6): Bijector[] {
  return [
    new Dequantize(rng),
    new Normalize(0, 256),
    new Normalize(-alpha, 1 / (1 - 2 * alpha)),
    new Logit(),
  ];
}

/** Bits per dimension from a negative log-likelihood in nats per example with `dims` values each. */
export function bitsPerDim(natsPerExample: number, dims: number): number {
  return natsPerExample / (dims * Math.LN2);
}
