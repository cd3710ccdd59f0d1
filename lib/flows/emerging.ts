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
 * and A^{-1} is solved pixel by pixel in raster order (on the CPU; used for sampling only). Together
 * with the flipped second convolution the receptive field is a full 3 x 3 window.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { matMulFastGrad } from "../nn/linear.ts";
import { childParameters, type NamedTensors } from "../nn/module.ts";
import { type Bijector, checkShape, type Transformed } from "./bijector.ts";
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

  /** Solves A x = z pixel by pixel in raster order, channel by channel (CPU, float64). */
  inverse(z: tf.Tensor): Transformed {
    checkShape("SquareAutoregressiveConv.inverse", "input", z, [-1, -1, this.channels]);
    const [n, h, w, c] = z.shape;
    const kt = this.kernel();
    const k = kt.arraySync() as number[][][][];
    kt.dispose();
    const b = this.bias.dataSync();
    const zs = z.dataSync();
    const x = new Float64Array(zs.length);
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
                  s -= at(i, y - 1 + dy, xx - 1 + dx, ci) * k[dy][dx][ci][co];
                }
              }
            }
            x[((i * h + y) * w + xx) * c + co] = s / k[1][1][co][co];
          }
        }
      }
    }
    return tf.tidy(() => ({
      y: tf.tensor(Float32Array.from(x), z.shape),
      logDet: perExample(tf.neg(this.#logAbsDet(h * w)), n),
    }));
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

  parameters(): NamedTensors<tf.Variable> {
    const [conv, a, , b] = this.#parts;
    return childParameters({ conv1x1: conv, ar1: a, ar2: b });
  }
}
