/**
 * Exact dense linear flows: `z = W x + b` with the log-determinant by an LU decomposition (the
 * "Exact" baselines of Keller et al. 2021, "Self Normalizing Flows", ICML).
 *
 *   forward:  z = W x + b,          logDet = log |det W|          (gradient W^{-T}, an O(D^3) solve)
 *   inverse:  x = W^{-1} (z - b),   logDet = -log |det W|
 *
 * The variable `weight` holds `W^T` (`[in, out]`, the layout of `Linear`), so batches `[B, D]` go
 * through plain products `x W^T` without transpose flags (slow on the wasm backend; see `matMul`).
 * Inputs of any trailing shape are flattened per example (`[B, 28, 28, 1]` is treated as `[B, 784]`) and
 * the output keeps the input's shape, so the layer composes with image layers. Initialisation follows the
 * reference implementation: W = I (plus optional Gaussian noise), b ~ N(0, std(W)^2).
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { NamedTensors } from "../nn/module.ts";
import { inverse, matMul, slogdet } from "../linalg.ts";
import type { Bijector, Transformed } from "./bijector.ts";
import { flatten2d, perExample } from "./per_example.ts";

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

/** The transpose of a row-major `dim x dim` matrix. */
export function transposeSquare(a: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(dim * dim);
  for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) out[j * dim + i] = a[i * dim + j];
  return out;
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
    this.weight = tf.variable(tf.tensor2d(transposeSquare(w, dim), [dim, dim]));
    this.bias = opts.bias === false ? null : tf.variable(tf.tensor1d(rng.normals(dim, entryStd(w))));
  }

  /** `W x + b` for the rows of `x: [B, D]`. */
  affine(x: tf.Tensor2D): tf.Tensor2D {
    const wx = matMul(x, this.weight as tf.Tensor2D);
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
      const x = matMul(v, inverse(this.weight as tf.Tensor2D));
      const logDet = perExample(tf.neg(slogdet(this.weight as tf.Tensor2D)), z.shape[0]);
      return { y: x.reshape(z.shape), logDet };
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return this.bias ? [["weight", this.weight], ["bias", this.bias]] : [["weight", this.weight]];
  }
}
