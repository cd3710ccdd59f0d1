/**
 * Helpers for k x k, stride-1, zero-padded ("same") convolutions on NHWC images, kernels in the tfjs
 * layout `[k, k, inC, outC]`, seen as linear maps of flattened images (index `(y * W + x) * C + c`):
 *
 * - {@link denseIndex}: where each kernel tap lands in the `D x D` matrix M of the convolution
 *   (`z_flat = M x_flat`, D = H W C), so M = gather([kernel..., 0], index) is differentiable in the kernel;
 * - {@link kernelGrad}: the kernel gradient of a convolution (the wasm backend has no
 *   Conv2DBackpropFilter kernel, and tfjs does not export the op);
 * - {@link flipKernel}: the kernel of the transposed map M^T (spatial flip, in/out channels swapped);
 * - {@link tapCounts}: how many (output, input) pairs of M each tap fills, i.e. d tr(M^T A)/dK for A
 *   of ones; the self-normalized conv gradient weighs the flipped R by it.
 */
import * as tf from "@tensorflow/tfjs";

/** Image shape `[H, W, C]` and odd kernel size k. */
export interface ConvGeometry {
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly kernel: number;
}

/** Throws unless the kernel size is odd and positive and the image shape positive. */
export function checkGeometry(who: string, g: ConvGeometry): void {
  const { height, width, channels, kernel } = g;
  if (![height, width, channels].every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(`${who}: image shape must be positive integers, got [${height}, ${width}, ${channels}]`);
  }
  if (!(Number.isInteger(kernel) && kernel >= 1 && kernel % 2 === 1)) {
    throw new Error(`${who}: kernel size must be odd and >= 1, got ${kernel}`);
  }
}

/**
 * `[D * D]` int32 indices into the flattened kernel (`k k C C` taps, then one zero at the end): entry
 * `(i, j)` of M is the tap joining input value j to output value i, or the zero.
 */
export function denseIndex(g: ConvGeometry): Int32Array {
  const { height: h, width: w, channels: c, kernel: k } = g;
  const d = h * w * c, p = (k - 1) / 2, zero = k * k * c * c;
  const idx = new Int32Array(d * d).fill(zero);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ky = 0; ky < k; ky++) {
        const yi = y + ky - p;
        if (yi < 0 || yi >= h) continue;
        for (let kx = 0; kx < k; kx++) {
          const xi = x + kx - p;
          if (xi < 0 || xi >= w) continue;
          for (let ci = 0; ci < c; ci++) {
            for (let co = 0; co < c; co++) {
              idx[((y * w + x) * c + co) * d + (yi * w + xi) * c + ci] = ((ky * k + kx) * c + ci) * c + co;
            }
          }
        }
      }
    }
  }
  return idx;
}

/**
 * The dense `[D, D]` matrix of the convolution with `kernel`, differentiable in the kernel: the gradient
 * of each tap is the sum of the matrix gradient over the entries it fills, summed on the CPU from the
 * JS `index` (tfjs's own gather gradient is an UnsortedSegmentSum, which wasm has only as the JS kernel
 * of `lib/wasm_kernels.ts`). That gradient reads synchronously (cpu, wasm: tests and `ExactConv.dense`); the
 * layers' log-determinants build M on the host instead (`conv_lu.ts`), which works on WebGPU too.
 */
export function denseMatrix(kernel: tf.Tensor, index: Int32Array, d: number): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const k = args[0] as tf.Tensor;
    const value = tf.tidy(() => {
      const taps = tf.concat([k.reshape([-1]), tf.zeros([1])]);
      return tf.gather(taps, tf.tensor1d(index, "int32")).reshape([d, d]);
    });
    const gradFunc = (dy: tf.Tensor) => {
      const g = dy.dataSync();
      const acc = new Float32Array(k.size + 1);
      for (let i = 0; i < index.length; i++) acc[index[i]] += g[i];
      return tf.tensor(acc.subarray(0, k.size), k.shape);
    };
    return { value, gradFunc };
  });
  return op(kernel) as tf.Tensor2D;
}

/**
 * `dK` of `sum(dZ * conv(x, K))` for a "same" k x k convolution, `[k, k, inC, outC]`:
 * `dK[i, j, c, d] = sum_{n, y, x} xpad[n, y + i, x + j, c] dZ[n, y, x, d]`, computed as one "valid"
 * convolution of the padded input with batch and channels swapped (`[inC, H + k - 1, W + k - 1, N]`) by
 * the output gradient as a filter (`[H, W, N, outC]`), as TensorFlow's own backprop-filter does (measured
 * on wasm, batch 100 at 28 x 28 x 1: 3 ms, against 76 ms for an im2col product).
 */
export function kernelGrad(x: tf.Tensor4D, dz: tf.Tensor4D, k: number): tf.Tensor4D {
  return tf.tidy(() => {
    const p = (k - 1) / 2;
    const padded = p > 0 ? tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]]) : x;
    const xT = tf.transpose(padded, [3, 1, 2, 0]) as tf.Tensor4D;
    const dzT = tf.transpose(dz, [1, 2, 0, 3]) as tf.Tensor4D;
    return tf.transpose(tf.conv2d(xT, dzT, 1, "valid"), [1, 2, 0, 3]) as tf.Tensor4D;
  });
}

/** The kernel of M^T: flipped in both spatial axes, input and output channels swapped. */
export function flipKernel(kernel: tf.Tensor): tf.Tensor4D {
  return tf.tidy(() => tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D);
}

/** `[k, k, C, C]`: for each tap, the number of output positions whose input under the tap is inside. */
export function tapCounts(g: ConvGeometry): Float32Array {
  const { height: h, width: w, channels: c, kernel: k } = g;
  const p = (k - 1) / 2;
  const out = new Float32Array(k * k * c * c);
  for (let ky = 0; ky < k; ky++) {
    for (let kx = 0; kx < k; kx++) {
      const n = (h - Math.abs(ky - p)) * (w - Math.abs(kx - p));
      out.fill(n, (ky * k + kx) * c * c, (ky * k + kx + 1) * c * c);
    }
  }
  return out;
}

/**
 * `conv(x, K)` with zero "same" padding, stride 1, odd k, with its own gradients: `dx = conv(dZ, flip(K))`
 * and `dK` by {@link kernelGrad}. Why: the wasm backend of tfjs 4.22 has no Conv2DBackpropFilter kernel, so
 * `tf.conv2d` cannot be trained there.
 */
export function sameConv(x: tf.Tensor4D, kernel: tf.Tensor): tf.Tensor4D {
  return sameConvOp(x, kernel as tf.Tensor4D);
}

const sameConvOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, w] = args as tf.Tensor4D[];
  (args[2] as tf.GradSaveFunc)([x, w]);
  const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
    const [xs, ws] = saved as tf.Tensor4D[];
    const dz = dy as tf.Tensor4D;
    return [tf.conv2d(dz, flipKernel(ws), 1, "same"), kernelGrad(xs, dz, ws.shape[0])];
  };
  return { value: tf.conv2d(x, w, 1, "same"), gradFunc };
}) as (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D;

/** Identity kernel plus Gaussian noise (`[k, k, C, C]` values), the reference's init for k > 1. */
export function diracKernel(k: number, c: number, noise: (n: number) => Float32Array): Float32Array {
  const w = noise(k * k * c * c);
  const centre = ((k - 1) / 2) * k + (k - 1) / 2;
  for (let i = 0; i < c; i++) w[(centre * c + i) * c + i] += 1;
  return w;
}

/** A random orthogonal `c x c` matrix (Gram-Schmidt on Gaussian columns), row-major. */
export function randomOrthogonal(c: number, rng: { normals(n: number): Float32Array }): Float32Array {
  const q = Float64Array.from(rng.normals(c * c));
  for (let j = 0; j < c; j++) {
    for (let i = 0; i < j; i++) {
      let dot = 0;
      for (let r = 0; r < c; r++) dot += q[r * c + i] * q[r * c + j];
      for (let r = 0; r < c; r++) q[r * c + j] -= dot * q[r * c + i];
    }
    let norm = 0;
    for (let r = 0; r < c; r++) norm += q[r * c + j] ** 2;
    norm = Math.sqrt(norm);
    for (let r = 0; r < c; r++) q[r * c + j] /= norm;
  }
  return Float32Array.from(q);
}
