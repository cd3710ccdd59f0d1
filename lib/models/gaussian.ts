/**
 * A full-covariance Gaussian density model, and float64 closed forms for reference values.
 *
 * Parametrised by the mean `mu` and a lower-triangular `A` with positive diagonal `exp(logDiag)`, the
 * Cholesky factor of the covariance inverted (`Sigma = L L^T`, `A = L^{-1}`), so the density is an affine
 * flow without any triangular solve in the training graph:
 *
 *   z = A (x - mu),   log p(x) = -|z|^2 / 2 - (D/2) log(2 pi) + sum_i logDiag_i.
 *
 * Initialised to the standard normal (mu = 0, A = I).
 */
import * as tf from "@tensorflow/tfjs";
import { readAndDispose } from "../backend.ts";
import type { VectorBatch } from "../data/array_dataset.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Rng } from "../rng.ts";
import type { DensityModel } from "../runner/types.ts";

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** `N(mu, (A^T A)^{-1})` with lower-triangular `A`, positive diagonal (see the module doc). */
export class GaussianModel implements DensityModel<VectorBatch> {
  readonly mean: tf.Variable;
  readonly logDiag: tf.Variable;
  /** Only the strictly lower triangle is used; the rest receives zero gradient. */
  readonly lower: tf.Variable;
  readonly #strict: Float32Array;

  constructor(readonly dim: number) {
    if (!(Number.isInteger(dim) && dim >= 1)) throw new Error(`GaussianModel: dim must be >= 1, got ${dim}`);
    // Inside tidy so the initial-value tensors are freed; variables survive it.
    [this.mean, this.logDiag, this.lower] = tf.tidy(() => [
      tf.variable(tf.zeros([dim])),
      tf.variable(tf.zeros([dim])),
      tf.variable(tf.zeros([dim, dim])),
    ]);
    this.#strict = new Float32Array(dim * dim);
    for (let i = 0; i < dim; i++) for (let j = 0; j < i; j++) this.#strict[i * dim + j] = 1;
  }

  /** `A = strictLower(lower) + diag(exp(logDiag))`. Allocates: call inside `tf.tidy`. */
  factor(): tf.Tensor2D {
    const strict = tf.mul(this.lower, tf.tensor2d(this.#strict, [this.dim, this.dim]));
    // eye * exp(logDiag) broadcasts along rows; tf.diag has no gradient in tfjs 4.22.
    return tf.add(strict, tf.mul(tf.eye(this.dim), tf.exp(this.logDiag))) as tf.Tensor2D;
  }

  logProb(batch: VectorBatch): tf.Tensor1D {
    return tf.tidy(() => {
      const z = tf.matMul(tf.sub(batch.x, this.mean), this.factor(), false, true);
      const quad = tf.mul(-0.5, tf.sum(tf.square(z), 1));
      return tf.add(quad, tf.sub(tf.sum(this.logDiag), this.dim * HALF_LOG_2PI)) as tf.Tensor1D;
    });
  }

  /** `n` samples `mu + A^{-1} eps` (row-major `[n, dim]`), `eps` standard normal from `rng`. */
  async sample(n: number, rng: Rng): Promise<Float32Array> {
    const d = this.dim;
    const [a, mu] = await readAndDispose([tf.tidy(() => this.factor()), this.mean.clone()]);
    const out = new Float32Array(n * d);
    const y = new Float64Array(d);
    for (let k = 0; k < n; k++) {
      // Forward substitution: solve A y = eps.
      for (let i = 0; i < d; i++) {
        let s = rng.normal();
        for (let j = 0; j < i; j++) s -= a[i * d + j] * y[j];
        y[i] = s / a[i * d + i];
        out[k * d + i] = mu[i] + y[i];
      }
    }
    return out;
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["mean", this.mean], ["log_diag", this.logDiag], ["lower", this.lower]];
  }
}

/** Mean NLL (nats per example) of row-major `[n, d]` data under `N(mean, L L^T)`, `chol` = L row-major. */
export function gaussianNll(
  data: ArrayLike<number>,
  mean: readonly number[],
  chol: readonly number[],
): number {
  const d = mean.length, n = data.length / d;
  let logDet = 0;
  for (let i = 0; i < d; i++) logDet += Math.log(chol[i * d + i]);
  const y = new Float64Array(d);
  let quad = 0;
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < d; i++) {
      let s = data[k * d + i] - mean[i];
      for (let j = 0; j < i; j++) s -= chol[i * d + j] * y[j];
      y[i] = s / chol[i * d + i];
      quad += y[i] * y[i];
    }
  }
  return 0.5 * quad / n + logDet + d * HALF_LOG_2PI;
}

/**
 * The maximum-likelihood Gaussian of row-major `[n, d]` data: sample mean and the lower Cholesky factor
 * of the (biased, 1/n) sample covariance.
 */
export function momentCholesky(data: ArrayLike<number>, d: number): { mean: number[]; chol: number[] } {
  const n = data.length / d;
  const mean = new Array<number>(d).fill(0);
  for (let k = 0; k < n; k++) for (let i = 0; i < d; i++) mean[i] += data[k * d + i] / n;
  const cov = new Array<number>(d * d).fill(0);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < d; i++) {
      for (let j = 0; j <= i; j++) {
        cov[i * d + j] += (data[k * d + i] - mean[i]) * (data[k * d + j] - mean[j]) / n;
      }
    }
  }
  const chol = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = cov[i * d + j];
      for (let k = 0; k < j; k++) s -= chol[i * d + k] * chol[j * d + k];
      if (i === j && !(s > 0)) {
        throw new Error(`momentCholesky: covariance is not positive definite (pivot ${s})`);
      }
      chol[i * d + j] = i === j ? Math.sqrt(s) : s / chol[j * d + j];
    }
  }
  return { mean, chol };
}
