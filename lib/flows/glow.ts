/**
 * Glow building blocks (Kingma & Dhariwal 2018, "Glow: Generative Flow with Invertible 1x1
 * Convolutions") on NHWC images, as used by the Self-Normalizing Flows Glow experiments:
 *
 * - {@link Squeeze}: `[H, W, C] -> [H/2, W/2, 4C]`, each 2 x 2 block into channels, in the reference's
 *   channel order (`space_to_depth`: channel `4 c + 2 dy + dx` holds pixel (2i + dy, 2j + dx) of channel
 *   c); logDet 0.
 * - {@link GlowCoupling}: affine coupling; the first C/2 channels x1 pass, the others become
 *   `x2 exp(log s) + t` with `(h_s, t) = NN(x1)`, `log s = 2 tanh(h_s / 2)`, logDet = sum log s.
 *   NN = conv3x3 -> ReLU -> conv1x1 -> ReLU -> zero-initialised conv3x3 scaled by exp(3 logs) (the
 *   "Conv2dZero" of Glow), so every coupling starts as the identity.
 * - {@link SplitPrior}: a coupling, then the second half of the channels is factored out under a
 *   standard normal: forward returns the first half, logDet = coupling logDet + log N(x2; 0, I). Its
 *   inverse draws x2 from its own {@link Rng}, so it is a sampler, not a bijection.
 * - `ActNorm` (actnorm.ts) and the invertible 1 x 1 convolution (`ExactConv` with kernel 1, exact.ts).
 *
 * Kept apart from the reference on purpose (README, "Self-normalizing flows: differences from the
 * original"): the reference splits the conditioner output into interleaved channels (h[:, ::2],
 * h[:, 1::2]); here it is split into halves, which differs only by a fixed permutation of the output
 * layer's channels (zero at initialisation, so the same initial distribution). The reference's output
 * layer also keeps its bias and log-scale in one shared tensor (two `nn.Parameter`s over the same
 * storage, both zero at initialisation); here they are two variables.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { uniformValues } from "../nn/linear.ts";
import { childParameters, type NamedTensors } from "../nn/module.ts";
import { type Bijector, checkShape, type Transformed } from "./bijector.ts";
import { sameConv } from "./conv_utils.ts";
import { StandardNormal } from "./normal.ts";
import { sumPerExample } from "./per_example.ts";

const zeroLogDet = (x: tf.Tensor) => tf.zeros([x.shape[0]]) as tf.Tensor1D;

/** Space-to-depth by 2 x 2 blocks (H and W must be even). */
export class Squeeze implements Bijector {
  forward(x: tf.Tensor): Transformed {
    const [b, h, w, c] = x.shape;
    if (x.rank !== 4 || h % 2 !== 0 || w % 2 !== 0) {
      throw new Error(`Squeeze: expected [B, H, W, C] with even H and W, got [${x.shape}]`);
    }
    // [b, i, dy, j, dx, c] -> [b, i, j, c, dy, dx]: channel 4 c + 2 dy + dx.
    return tf.tidy(() => ({
      y: tf.transpose(x.reshape([b, h / 2, 2, w / 2, 2, c]), [0, 1, 3, 5, 2, 4]).reshape([
        b,
        h / 2,
        w / 2,
        4 * c,
      ]),
      logDet: zeroLogDet(x),
    }));
  }

  inverse(z: tf.Tensor): Transformed {
    const [b, h, w, c4] = z.shape;
    if (z.rank !== 4 || c4 % 4 !== 0) {
      throw new Error(`Squeeze.inverse: expected 4C channels, got [${z.shape}]`);
    }
    const c = c4 / 4;
    return tf.tidy(() => ({
      y: tf.transpose(z.reshape([b, h, w, c, 2, 2]), [0, 1, 4, 2, 5, 3]).reshape([b, 2 * h, 2 * w, c]),
      logDet: zeroLogDet(z),
    }));
  }

  parameters(): NamedTensors<tf.Variable> {
    return [];
  }
}

/** A conv layer with PyTorch's default init (uniform in +-1/sqrt(fan in)) or zeros. */
class Conv {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  constructor(k: number, inC: number, outC: number, rng: Rng | null) {
    const bound = rng ? 1 / Math.sqrt(inC * k * k) : 0;
    const draw = (n: number) => (rng ? uniformValues(n, bound, rng) : new Float32Array(n));
    this.weight = tf.variable(tf.tensor4d(draw(k * k * inC * outC), [k, k, inC, outC]));
    this.bias = tf.variable(tf.tensor1d(draw(outC)));
  }
  apply(x: tf.Tensor4D): tf.Tensor4D {
    return tf.add(sameConv(x, this.weight), this.bias);
  }
  parameters(): NamedTensors<tf.Variable> {
    return [["weight", this.weight], ["bias", this.bias]];
  }
}

/** The coupling conditioner: `[B, H, W, C/2] -> [B, H, W, C]` (raw log-scales, then shifts). */
export class CouplingNet {
  readonly #layers: [Conv, Conv, Conv];
  /** Per-channel log-scale of the zero output layer (Glow's Conv2dZero, factor 3). */
  readonly logs: tf.Variable;

  /** `zeroInit` (default true): the output layer starts at zero; false draws it like the others (tests). */
  constructor(inC: number, outC: number, width: number, rng: Rng, zeroInit = true) {
    this.#layers = [
      new Conv(3, inC, width, rng),
      new Conv(1, width, width, rng),
      new Conv(3, width, outC, zeroInit ? null : rng),
    ];
    this.logs = tf.variable(tf.zeros([outC]));
  }

  apply(x: tf.Tensor4D): tf.Tensor4D {
    const [a, b, c] = this.#layers;
    return tf.mul(c.apply(tf.relu(b.apply(tf.relu(a.apply(x))))), tf.exp(tf.mul(this.logs, 3)));
  }

  parameters(): NamedTensors<tf.Variable> {
    const [a, b, c] = this.#layers;
    return [...childParameters({ conv1: a, conv2: b, conv3: c }), ["logs", this.logs]];
  }
}

/** Glow's affine coupling on `[B, H, W, C]` (C even); see the module comment. */
export class GlowCoupling implements Bijector {
  readonly net: CouplingNet;
  readonly half: number;

  /** `width` hidden channels (the reference: 512); `zeroInit` as {@link CouplingNet}. */
  constructor(readonly channels: number, width: number, rng: Rng, zeroInit = true) {
    if (!(channels >= 2 && channels % 2 === 0)) {
      throw new Error(`GlowCoupling: channels must be even and >= 2, got ${channels}`);
    }
    this.half = channels / 2;
    this.net = new CouplingNet(this.half, channels, width, rng, zeroInit);
  }

  #split(x: tf.Tensor): { x1: tf.Tensor4D; x2: tf.Tensor4D; logS: tf.Tensor4D; t: tf.Tensor4D } {
    checkShape("GlowCoupling", "input", x, [-1, -1, this.channels]);
    const [x1, x2] = tf.split(x, 2, 3) as tf.Tensor4D[];
    const [hs, t] = tf.split(this.net.apply(x1), 2, 3) as tf.Tensor4D[];
    return { x1, x2, logS: tf.mul(tf.tanh(tf.div(hs, 2)), 2), t };
  }

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const { x1, x2, logS, t } = this.#split(x);
      return { y: tf.concat([x1, tf.add(tf.mul(x2, tf.exp(logS)), t)], 3), logDet: sumPerExample(logS) };
    });
  }

  inverse(z: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const { x1, x2, logS, t } = this.#split(z);
      return {
        y: tf.concat([x1, tf.mul(tf.sub(x2, t), tf.exp(tf.neg(logS)))], 3),
        logDet: tf.neg(sumPerExample(logS)),
      };
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters({ net: this.net });
  }
}

/** Factor out half of the channels after a coupling (see the module comment). */
export class SplitPrior implements Bijector {
  readonly coupling: GlowCoupling;

  constructor(readonly channels: number, width: number, rng: Rng, readonly sampleRng: Rng, zeroInit = true) {
    this.coupling = new GlowCoupling(channels, width, rng, zeroInit);
  }

  forward(x: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const { y, logDet } = this.coupling.forward(x);
      const [x1, x2] = tf.split(y, 2, 3);
      const prior = new StandardNormal(x2.shape.slice(1));
      return { y: x1, logDet: tf.add(logDet, prior.logProb(x2)) as tf.Tensor1D };
    });
  }

  /** Draws the factored-out half from N(0, I); logDet is minus that of forward at the result. */
  inverse(z: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const x2 = new StandardNormal(z.shape.slice(1)).sample(z.shape[0], this.sampleRng);
      const prior = new StandardNormal(z.shape.slice(1)).logProb(x2);
      const { y, logDet } = this.coupling.inverse(tf.concat([z, x2], 3));
      return { y, logDet: tf.sub(logDet, prior) as tf.Tensor1D };
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters({ coupling: this.coupling });
  }
}
