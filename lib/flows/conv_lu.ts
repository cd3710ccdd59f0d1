/**
 * The log-determinant and the inverse of a k x k "same" convolution from its kernel, through an LU
 * decomposition on the host (`lib/linalg.ts`) of its `D x D` matrix M(K) (D = H W C; conv_utils.ts):
 *
 *   log |det M(K)|,   d/dK = sum over the entries (i, j) each tap fills of (M^{-T})_ij
 *   M(K)^{-1},        d/dM = -M^{-T} (dL/dM^{-1}) M^{-T}, summed onto the taps the same way
 *
 * M is built on the host from the kernel's values (`hostData`: on WebGPU the kernel is read beforehand,
 * `Bijector.hostTensors`), so nothing else is read back: the log-det gradient is a host-made tensor times
 * the incoming gradient. For k = 1 (Glow's invertible 1 x 1 convolution) M is block diagonal, so the C x C
 * kernel matrix K_c stands for it: log |det M| = H W log |det K_c|, M^{-1} is the 1 x 1 convolution with
 * K_c^{-1}.
 */
import * as tf from "@tensorflow/tfjs";
import { hostData } from "../host_read.ts";
import { cachedLu, type LU, transposed32 } from "../linalg.ts";
import { type ConvGeometry, denseIndex } from "./conv_utils.ts";

/** The matrix of a convolution of fixed geometry, factorised from kernel values (see the module comment). */
export class ConvLu {
  /** The size of the factorised matrix: C for k = 1, D = H W C otherwise. */
  readonly n: number;
  #index: Int32Array | null = null;

  constructor(readonly geometry: ConvGeometry) {
    const { height: h, width: w, channels: c, kernel: k } = geometry;
    this.n = k === 1 ? c : h * w * c;
  }

  #dense(): Int32Array {
    return this.#index ??= denseIndex(this.geometry);
  }

  /** LU of M(kernel) (of K_c for k = 1) from the kernel's host values. */
  lu(kernel: tf.Tensor): LU {
    const values = hostData(kernel, "ConvLu") as Float32Array;
    if (this.geometry.kernel === 1) return cachedLu(values, this.n);
    const index = this.#dense(), m = new Float32Array(index.length);
    for (let i = 0; i < index.length; i++) if (index[i] < values.length) m[i] = values[index[i]];
    return cachedLu(m, this.n);
  }

  /** `d log|det M| / dK` (`size` taps): M^{-T} summed onto the taps (k = 1: K_c^{-T}). */
  #logDetGrad(lu: LU, size: number): Float32Array {
    const inv = lu.inverse(), n = lu.n;
    if (this.geometry.kernel === 1) return transposed32(inv, n);
    const index = this.#dense(), out = new Float64Array(size + 1);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) out[index[i * n + j]] += inv[j * n + i];
    return Float32Array.from(out.subarray(0, size));
  }

  /** `log |det M(kernel)|`, differentiable in the kernel; -Infinity if singular. */
  logAbsDet(kernel: tf.Tensor): tf.Scalar {
    const { height: h, width: w, kernel: k } = this.geometry;
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const kt = args[0] as tf.Tensor;
      const lu = this.lu(kt);
      const gradFunc = (dy: tf.Tensor) =>
        tf.tidy(() => tf.mul(dy, tf.tensor(this.#logDetGrad(lu, kt.size), kt.shape)));
      return { value: tf.scalar(lu.slogdet().logAbsDet), gradFunc };
    }) as (kernel: tf.Tensor) => tf.Scalar;
    return k === 1 ? tf.tidy(() => tf.mul(op(kernel), h * w)) : op(kernel);
  }

  /**
   * `M(kernel)^{-1}`: for k = 1 the `[1, 1, C, C]` kernel of the inverse convolution, else the `[D, D]`
   * matrix; differentiable in the kernel. Throws if singular.
   */
  inverse(kernel: tf.Tensor): tf.Tensor {
    const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const kt = args[0] as tf.Tensor;
      const lu = this.lu(kt);
      const value = tf.tensor2d(Float32Array.from(lu.inverse()), [lu.n, lu.n]);
      (args[1] as tf.GradSaveFunc)([value]);
      const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.tidy(() => {
          const invT = tf.transpose(saved[0]);
          const dm = tf.neg(tf.matMul(tf.matMul(invT, dy as tf.Tensor2D), invT));
          if (this.geometry.kernel === 1) return dm.reshape(kt.shape);
          const index = tf.tensor1d(this.#dense(), "int32");
          const taps = tf.unsortedSegmentSum(dm.reshape([-1]), index, kt.size + 1);
          return tf.slice(taps, 0, kt.size).reshape(kt.shape);
        });
      return { value, gradFunc };
    }) as (kernel: tf.Tensor) => tf.Tensor2D;
    const c = this.geometry.channels;
    return this.geometry.kernel === 1 ? tf.tidy(() => op(kernel).reshape([1, 1, c, c])) : op(kernel);
  }
}
