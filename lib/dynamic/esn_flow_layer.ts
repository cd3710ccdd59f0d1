/**
 * One layer of the ESN-conditioned flow: two affine couplings with complementary masks that share one
 * conditioner (`lib/nn/conditioner.ts`), conditioned on the context h = h_{t-1}.
 *
 * With the layer mask `b` (1 on the first floor(D/2) dimensions), the data-to-latent map applies, for
 * m = 1 - b and then m = b (the order of `frame_logp` in the reference `torch_esn_flow.py`):
 *
 *   (s, mu) = conditioner(m * z, h),   s <- s * rescale
 *   z <- m * z + (1 - m) * (z - mu) * exp(-s),      logDet -= sum((1 - m) * s)
 *
 * The inverse runs the couplings in the opposite order with `z <- m * z + (1 - m) * (z * exp(s) + mu)`.
 * Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP" (ICLR 2017); the ESN conditioning
 * follows the dynamic-flow design of the original echoflow code.
 *
 * `rescale` (a learned per-dimension scale of the tanh slope, initialised to 1) is shared by every layer
 * of a flow; a layer built without one owns its own (then it is one of its parameters).
 */
import * as tf from "@tensorflow/tfjs";
import { type Bijector, checkShape, type Transformed } from "../flows/bijector.ts";
import { type ConditionerOptions, ContextConditioner } from "../nn/conditioner.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Rng } from "../rng.ts";

/** How many leading dimensions the layer mask `b` keeps as ones: floor(D / 2). */
export function halfSplit(dim: number): number {
  return Math.floor(dim / 2);
}

/** The layer mask `b`: 1 on the first floor(D / 2) dimensions, 0 on the rest. */
export function halfMask(dim: number): Float32Array {
  const b = new Float32Array(dim);
  b.fill(1, 0, halfSplit(dim));
  return b;
}

/** Two complementary affine couplings sharing one conditioner, context `h_{t-1}` (see the module doc). */
export class EsnFlowLayer implements Bijector {
  readonly conditioner: ContextConditioner;
  readonly mask: Float32Array;
  readonly rescale: tf.Variable;
  readonly #ownsRescale: boolean;

  constructor(readonly opts: ConditionerOptions, rng: Rng, shared?: { rescale: tf.Variable }) {
    if (opts.frameDim < 2) {
      throw new Error(`EsnFlowLayer: frame_dim must be >= 2 for a coupling layer, got ${opts.frameDim}`);
    }
    this.conditioner = new ContextConditioner(opts, rng);
    this.mask = halfMask(opts.frameDim);
    this.#ownsRescale = !shared;
    this.rescale = shared?.rescale ?? tf.tidy(() => tf.variable(tf.ones([opts.frameDim])));
  }

  /** `(m, 1 - m)` for the two couplings, in data-to-latent order. */
  #masks(): [tf.Tensor1D, tf.Tensor1D][] {
    const b = tf.tensor1d(this.mask), nb = tf.sub(1, b) as tf.Tensor1D;
    return [[nb, b], [b, nb]];
  }

  #check(x: tf.Tensor, context: tf.Tensor | undefined): asserts context is tf.Tensor2D {
    checkShape("EsnFlowLayer", "x", x, [this.opts.frameDim]);
    if (!context) throw new Error("EsnFlowLayer: a context h_{t-1} of shape [batch, esn_dim] is required");
    checkShape("EsnFlowLayer", "context", context, [this.opts.contextDim]);
  }

  forward(x: tf.Tensor, context?: tf.Tensor): Transformed {
    this.#check(x, context);
    return this.forwardProjected(x as tf.Tensor2D, this.conditioner.projectContext(context));
  }

  inverse(z: tf.Tensor, context?: tf.Tensor): Transformed {
    this.#check(z, context);
    return this.inverseProjected(z as tf.Tensor2D, this.conditioner.projectContext(context));
  }

  /** Data to latent given the shared first-layer context term `hc = conditioner.projectContext(h)`. */
  forwardProjected(x: tf.Tensor2D, hc: tf.Tensor2D): Transformed {
    const wx = this.conditioner.frameWeight();
    let z = x;
    let logDet = tf.zeros([x.shape[0]]) as tf.Tensor1D;
    for (const [m, nm] of this.#masks()) {
      const zm = tf.mul(z, m) as tf.Tensor2D;
      const { s, mu } = this.conditioner.applyProjected(zm, hc, wx);
      // Only the (1 - m) entries of s are used: folding the mask into the rescale saves one [R, D] op.
      const sm = tf.mul(s, tf.mul(this.rescale, nm));
      z = tf.add(zm, tf.mul(tf.mul(tf.sub(z, mu), tf.exp(tf.neg(sm))), nm));
      logDet = tf.sub(logDet, tf.sum(sm, -1));
    }
    return { y: z, logDet };
  }

  /** Latent to data given `hc = conditioner.projectContext(h)`. */
  inverseProjected(z: tf.Tensor2D, hc: tf.Tensor2D): Transformed {
    const wx = this.conditioner.frameWeight();
    let x = z;
    let logDet = tf.zeros([z.shape[0]]) as tf.Tensor1D;
    for (const [m, nm] of this.#masks().reverse()) {
      const xm = tf.mul(x, m) as tf.Tensor2D;
      const { s, mu } = this.conditioner.applyProjected(xm, hc, wx);
      const sm = tf.mul(s, tf.mul(this.rescale, nm));
      x = tf.add(xm, tf.mul(tf.add(tf.mul(x, tf.exp(sm)), mu), nm));
      logDet = tf.add(logDet, tf.sum(sm, -1));
    }
    return { y: x, logDet };
  }

  parameters(): NamedTensors<tf.Variable> {
    const own = this.conditioner.parameters();
    return this.#ownsRescale ? [...own, ["rescale", this.rescale]] : own;
  }
}
