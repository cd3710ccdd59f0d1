/**
 * The self-normalizing k x k convolution (Keller et al. 2021, "Self Normalizing Flows", Sec. 4.2):
 * `z = conv(x, K) + b` (zero "same" padding, stride 1, C -> C channels) with a learned approximate inverse
 * convolution `x ~ conv(z - b, R)`. Seen as matrices, `M(K) x` and `M(R) z`, the gradient is that of
 * `SelfNormFC` (selfnorm.ts) with W = M(K), R = M(R), collected onto the kernel taps:
 *
 *   dL/dK ~ 1/2 (sum_n x_n (*) delta_n         + s flip(R) . count)
 *   dL/dR ~ 1/2 (-sum_n (K (*) x_n) (*) delta_x,n - s flip(K) . count)
 *
 * where `a (*) g` is the kernel gradient of a convolution with input a and output gradient g,
 * `flip` gives the kernel of the transposed matrix (M(R)^T = M(flip(R))), `count` is the number of matrix
 * entries each tap fills, and s = sum_n dL/dlogDet_n. Training and evaluation modes, the reconstruction
 * penalty and approximate sampling work as in {@link SelfNormFC}; evaluation is exact (dense LU log-det of
 * M(K), see `ExactConv`).
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Transformed } from "./bijector.ts";
import { type ConvGeometry, flipKernel, kernelGrad, sameConv, tapCounts } from "./conv_utils.ts";
import { ExactConv } from "./exact.ts";
import { perExample } from "./per_example.ts";
import {
  type SelfNormalizing,
  selfNormHostTensors,
  selfNormLogDet,
  type SelfNormOptions,
  type SelfNormSwitches,
  selfNormSwitches,
  stopGradient,
} from "./selfnorm.ts";

/** `conv(x, K) + b` with the self-normalized gradients for K and R (data terms). */
function snfConv(k: number) {
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b] = args as tf.Tensor4D[];
    const xw = tf.conv2d(x, w, 1, "same");
    (args[4] as tf.GradSaveFunc)([x, w, xw]);
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [xs, ws, xws] = saved as tf.Tensor4D[];
      const dz = dy as tf.Tensor4D;
      const dx = tf.conv2d(dz, flipKernel(ws), 1, "same");
      return [
        dx,
        tf.mul(kernelGrad(xs, dz, k), 0.5),
        tf.sum(dz, [0, 1, 2]),
        tf.mul(kernelGrad(xws, dx, k), -0.5),
      ];
    };
    return { value: tf.add(xw, b), gradFunc };
  }) as (x: tf.Tensor4D, w: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => tf.Tensor4D;
}

/** Zero `[batch]` log-det with gradient `1/2 s flip(R) . count` for K and `-1/2 s flip(K) . count` for R. */
function snfConvLogDet(batch: number, w: tf.Tensor, r: tf.Tensor, counts: Float32Array): tf.Tensor1D {
  return selfNormLogDet(batch, w, r, (t) => tf.mul(flipKernel(t), tf.tensor(counts, t.shape)));
}

/**
 * Self-normalizing convolution on `[B, H, W, C]`. Parameters: `weight` K, `bias` b (from the exact
 * layer), `inverse_weight` R, all kernels `[k, k, C, C]`; R = flip(K) at initialisation.
 */
export class SelfNormConv implements SelfNormalizing {
  training = false;
  approxInverse = false;
  readonly inverseWeight: tf.Variable;
  readonly #exact: ExactConv;
  readonly #opts: SelfNormSwitches;
  readonly #count: Float32Array;
  readonly #conv: ReturnType<typeof snfConv>;

  constructor(readonly geometry: ConvGeometry, rng: Rng, opts: SelfNormOptions = {}) {
    this.#exact = new ExactConv(geometry, rng, opts);
    const noise = opts.inverseNoise ?? 0;
    this.inverseWeight = tf.variable(tf.tidy(() => {
      const r = flipKernel(this.#exact.weight);
      return noise > 0 ? tf.add(r, tf.tensor(rng.normals(r.size, noise), r.shape)) : r;
    }));
    this.#opts = selfNormSwitches(opts);
    this.#count = tapCounts(geometry);
    this.#conv = snfConv(geometry.kernel);
  }

  get weight(): tf.Variable {
    return this.#exact.weight;
  }

  get bias(): tf.Variable | null {
    return this.#exact.bias;
  }

  /** The dense matrix of the forward convolution (for tests and exact evaluation). */
  dense(): tf.Tensor2D {
    return this.#exact.dense();
  }

  forward(x: tf.Tensor): Transformed {
    if (!this.training) return this.#exact.forward(x);
    return tf.tidy(() => {
      const { modifiedGrad, addReconGrad } = this.#opts;
      let out: Transformed;
      if (modifiedGrad) {
        const w = this.weight, r = this.inverseWeight;
        const z = this.#conv(x as tf.Tensor4D, w, this.bias ?? tf.zeros([this.geometry.channels]), r);
        out = { y: z, logDet: snfConvLogDet(x.shape[0], w, r, this.#count) };
      } else {
        out = this.#exact.forward(x);
      }
      const logDet = addReconGrad ? tf.sub(out.logDet, this.reconLoss(x as tf.Tensor4D)) : out.logDet;
      return { y: out.y, logDet: logDet as tf.Tensor1D };
    });
  }

  /** `lambda ||x - conv(conv(x, K), R)||^2` per example (x constant), optionally symmetrised. */
  reconLoss(x: tf.Tensor4D): tf.Tensor1D {
    return tf.tidy(() => {
      const { symReconGrad, onlyRRecon, reconLossWeight } = this.#opts;
      const sq = (t: tf.Tensor) => tf.sum(tf.square(t), [1, 2, 3]);
      const xc = stopGradient(x);
      let z = sameConv(xc, this.weight);
      if (onlyRRecon) z = stopGradient(z);
      const xHat = sameConv(z, this.inverseWeight);
      let loss = sq(tf.sub(xc, xHat));
      if (symReconGrad) {
        loss = tf.mul(tf.add(loss, sq(tf.sub(stopGradient(z), sameConv(xHat, this.weight)))), 0.5);
      }
      return tf.mul(loss, reconLossWeight) as tf.Tensor1D;
    });
  }

  inverse(z: tf.Tensor): Transformed {
    if (!this.approxInverse) return this.#exact.inverse(z);
    return tf.tidy(() => {
      const v = (this.bias ? tf.sub(z, this.bias) : z) as tf.Tensor4D;
      // The log-det of the map computed, x = M(R) (z - b).
      const ld = this.#exact.logAbsDet(this.inverseWeight);
      return { y: sameConv(v, this.inverseWeight), logDet: perExample(ld, z.shape[0]) };
    });
  }

  /** See {@link selfNormHostTensors}. */
  hostTensors(): tf.Tensor[] {
    return selfNormHostTensors(this, this.#opts);
  }

  parameters(): NamedTensors<tf.Variable> {
    return [...this.#exact.parameters(), ["inverse_weight", this.inverseWeight]];
  }
}
