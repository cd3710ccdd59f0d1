/**
 * Emerging convolutions (Hoogeboom, van den Berg & Welling 2019, "Emerging Convolutions for Generative
 * Normalizing Flows", ICML), in the form of the reference's `Emerging` layer:
 *
 *   Emerging = 1x1 conv -> A -> flip -> A' -> flip,      flip: reverse rows and columns (logDet 0)
 *
 * where A is a "square autoregressive" 2 x 2 convolution: output pixel (y, x) sees the input pixels
 * (y-1..y, x-1..x) (zero outside), and at its own pixel only channels c' <= c (a lower-triangular centre
 * matrix). Ordered by raster scan, A is triangular, so
 *
 *   log|det A| = H W sum_c log|K_centre[c, c]|,
 *
 * and A x = v is solved for sampling. Where tensors read synchronously (wasm, cpu) it is solved pixel by pixel
 * in raster order on the host, in float64. On WebGPU it is solved on the device: with the centre matrix C_K
 * and the three other taps N, `x = (v - N x) C_K^{-1}`; a pixel depends only on pixels of the anti-diagonals
 * before its own (y + x smaller), so the sweeps `x <- v C_K^{-1} - conv(x, N C_K^{-1})` from x = 0 make one
 * more anti-diagonal exact each: H + W - 1 sweeps (a pad and a 2 x 2 convolution each) solve it exactly,
 * with no read-back. C_K^{-1} is the finite Neumann series of its nilpotent off-diagonal part. (The sweeps
 * on wasm took 2.6 s where the host solve takes 23 ms, at batch 100 of 28 x 28 x 1.) Together with the
 * flipped second convolution the receptive field is a full 3 x 3 window.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { matMulFastGrad } from "../nn/linear.ts";
import { childParameters, type NamedTensors } from "../nn/module.ts";
import { readsSynchronously } from "../host_read.ts";
import { type Bijector, checkShape, hostTensorsOf, type Transformed } from "./bijector.ts";
import { ExactConv } from "./exact.ts";
import { perExample } from "./per_example.ts";

/** Lower-triangular (c' <= c) mask on the centre tap, ones elsewhere, as `[2, 2, C, C]` values. */
function arMask(c: number): Float32Array {
  const m = new Float32Array(4 * c * c).fill(1);
  for (let ci = 0; ci < c; ci++) for (let co = 0; co < ci; co++) m[(3 * c + ci) * c + co] = 0;
  return m;
}

/** The square autoregressive 2 x 2 convolution A (see the module comment). Parameters: weight, bias. */
export class SquareAutoregressiveConv implements Bijector {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly #mask: Float32Array;

  /** Init as the reference: N(0, 1) / sqrt(4 C^2) plus 1 on the centre diagonal; bias 0. */
  constructor(readonly channels: number, rng: Rng) {
    const c = channels;
    const w = rng.normals(4 * c * c, 1 / Math.sqrt(4 * c * c));
    for (let i = 0; i < c; i++) w[(3 * c + i) * c + i] += 1;
    this.weight = tf.variable(tf.tensor4d(w, [2, 2, c, c]));
    this.bias = tf.variable(tf.zeros([c]));
    this.#mask = arMask(c);
  }

  /** The masked kernel. */
  kernel(): tf.Tensor4D {
    return tf.tidy(() =>
      tf.mul(this.weight, tf.tensor4d(this.#mask, this.weight.shape as [number, number, number, number]))
    );
  }

  forward(x: tf.Tensor): Transformed {
    checkShape("SquareAutoregressiveConv.forward", "input", x, [-1, -1, this.channels]);
    return tf.tidy(() => {
      const [n, h, w, c] = x.shape;
      const padded = tf.pad(x, [[0, 0], [1, 0], [1, 0], [0, 0]]);
      // Patches in (dy, dx) order, matching the [2, 2, C, C] kernel; products through matMulFastGrad.
      const cols = [0, 1].flatMap((dy) => [0, 1].map((dx) => tf.slice(padded, [0, dy, dx, 0], [n, h, w, c])));
      const patches = tf.concat(cols, 3).reshape([n * h * w, 4 * c]) as tf.Tensor2D;
      const z = tf.add(matMulFastGrad(patches, this.kernel().reshape([4 * c, c]) as tf.Tensor2D), this.bias);
      return { y: z.reshape(x.shape), logDet: perExample(this.#logAbsDet(h * w), n) };
    });
  }

  #logAbsDet(pixels: number): tf.Scalar {
    const c = this.channels;
    const centre = tf.slice(this.weight, [1, 1, 0, 0], [1, 1, c, c]).reshape([c, c]);
    return tf.mul(tf.sum(tf.log(tf.abs(tf.mul(centre, tf.eye(c)).sum(0)))), pixels);
  }

  /** `(C_K)^{-1}` of the masked centre tap (upper triangular as `[in, out]`): `D^{-1} sum_j (-S D^{-1})^j`. */
  #centreInverse(centre: tf.Tensor2D): tf.Tensor2D {
    const c = this.channels;
    const eye = tf.eye(c);
    const dInv = tf.div(eye, tf.add(tf.mul(centre, eye), tf.sub(1, eye))) as tf.Tensor2D;
    const n = tf.neg(tf.matMul(tf.mul(centre, tf.sub(1, eye)), dInv)) as tf.Tensor2D;
    let term = eye as tf.Tensor2D, sum = eye as tf.Tensor2D;
    for (let j = 1; j < c; j++) {
      term = tf.matMul(term, n);
      sum = tf.add(sum, term);
    }
    return tf.matMul(dInv, sum);
  }

  /** Solves A x = z - b: on the host where reads are synchronous, else by sweeps (see the module comment). */
  inverse(z: tf.Tensor): Transformed {
    checkShape("SquareAutoregressiveConv.inverse", "input", z, [-1, -1, this.channels]);
    const [n, h, w] = z.shape;
    const x = readsSynchronously()
      ? this.#solveOnHost(z as tf.Tensor4D)
      : this.#solveBySweeps(z as tf.Tensor4D);
    return { y: x, logDet: tf.tidy(() => perExample(tf.neg(this.#logAbsDet(h * w)), n)) };
  }

  /** Raster-order substitution in float64 on the host. */
  #solveOnHost(z: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w, c] = z.shape;
    const kt = this.kernel();
    const k = kt.dataSync();
    kt.dispose();
    const b = this.bias.dataSync(), zs = z.dataSync();
    const x = new Float64Array(zs.length);
    // k[((dy * 2 + dx) * c + ci) * c + co] is tap (dy, dx) from input channel ci to output channel co.
    const tap = (dy: number, dx: number, ci: number, co: number) => k[((dy * 2 + dx) * c + ci) * c + co];
    const at = (i: number, y: number, xx: number, ch: number) =>
      y < 0 || xx < 0 ? 0 : x[((i * h + y) * w + xx) * c + ch];
    for (let i = 0; i < n; i++) {
      for (let y = 0; y < h; y++) {
        for (let xx = 0; xx < w; xx++) {
          for (let co = 0; co < c; co++) {
            let s = zs[((i * h + y) * w + xx) * c + co] - b[co];
            for (let dy = 0; dy < 2; dy++) {
              for (let dx = 0; dx < 2; dx++) {
                for (let ci = 0; ci < c; ci++) {
                  if (dy === 1 && dx === 1 && ci >= co) continue; // the unknowns of this pixel
                  s -= at(i, y - 1 + dy, xx - 1 + dx, ci) * tap(dy, dx, ci, co);
                }
              }
            }
            x[((i * h + y) * w + xx) * c + co] = s / tap(1, 1, co, co);
          }
        }
      }
    }
    return tf.tensor4d(Float32Array.from(x), z.shape);
  }

  /** H + W - 1 sweeps `x <- v' - conv(x, N')` on the device, `v' = v C_K^{-1}`, `N' = N C_K^{-1}`. */
  #solveBySweeps(z: tf.Tensor4D): tf.Tensor4D {
    const [n, h, w, c] = z.shape;
    const [v, off] = tf.tidy(() => {
      const k = this.kernel().reshape([4 * c, c]);
      const cInv = this.#centreInverse(tf.slice(k, [3 * c, 0], [c, c]) as tf.Tensor2D);
      const v = tf.matMul(tf.sub(z, this.bias).reshape([n * h * w, c]), cInv).reshape([n, h, w, c]);
      // The three other taps times C_K^{-1}, and a zero centre: a [2, 2, C, C] kernel.
      const taps = tf.concat([tf.matMul(tf.slice(k, [0, 0], [3 * c, c]), cInv), tf.zeros([c, c])]);
      return [v as tf.Tensor4D, taps.reshape([2, 2, c, c]) as tf.Tensor4D];
    });
    let x = v;
    for (let sweep = 1; sweep < h + w - 1; sweep++) {
      const next = tf.tidy(() =>
        tf.sub(v, tf.conv2d(tf.pad(x, [[0, 0], [1, 0], [1, 0], [0, 0]]), off, 1, "valid")) as tf.Tensor4D
      );
      if (x !== v) x.dispose();
      x = next;
    }
    off.dispose();
    if (x !== v) v.dispose();
    return x;
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["weight", this.weight], ["bias", this.bias]];
  }
}

/** Reverses rows and columns of `[B, H, W, C]`; its own inverse, logDet 0. */
export class Flip2d implements Bijector {
  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => ({ y: tf.reverse(x, [1, 2]), logDet: tf.zeros([x.shape[0]]) as tf.Tensor1D }));
  }
  inverse(z: tf.Tensor): Transformed {
    return this.forward(z);
  }
  parameters(): NamedTensors<tf.Variable> {
    return [];
  }
}

/** The emerging convolution on `[B, H, W, C]` images of the given size (see the module comment). */
export class Emerging implements Bijector {
  readonly #parts: Bijector[];

  constructor(height: number, width: number, channels: number, rng: Rng) {
    const flip = new Flip2d();
    this.#parts = [
      new ExactConv({ height, width, channels, kernel: 1 }, rng, { bias: false }),
      new SquareAutoregressiveConv(channels, rng),
      flip,
      new SquareAutoregressiveConv(channels, rng),
      flip,
    ];
  }

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => {
      let y = x;
      let logDet = tf.zeros([x.shape[0]]) as tf.Tensor1D;
      for (const p of this.#parts) {
        const out = p.forward(y);
        [y, logDet] = [out.y, tf.add(logDet, out.logDet)];
      }
      return { y, logDet };
    });
  }

  inverse(z: tf.Tensor): Transformed {
    return tf.tidy(() => {
      let x = z;
      let logDet = tf.zeros([z.shape[0]]) as tf.Tensor1D;
      for (const p of [...this.#parts].reverse()) {
        const out = p.inverse(x);
        [x, logDet] = [out.y, tf.add(logDet, out.logDet)];
      }
      return { y: x, logDet };
    });
  }

  /** Those of the exact 1 x 1 convolution (the autoregressive ones are solved on the device). */
  hostTensors(): tf.Tensor[] {
    return hostTensorsOf(this.#parts);
  }

  parameters(): NamedTensors<tf.Variable> {
    const [conv, a, , b] = this.#parts;
    return childParameters({ conv1x1: conv, ar1: a, ar2: b });
  }
}
