/**
 * Affine coupling with a binary mask (RealNVP: Dinh, Sohl-Dickstein & Bengio 2017, "Density estimation
 * using Real NVP", eqs. 4-9).
 *
 * With mask b (1 = passed through, 0 = transformed) and a conditioner that sees only `b*x` (and the
 * context), giving a raw scale r and a shift t per dimension:
 *
 *   s = (1-b) * scale * tanh(r),   t <- (1-b) * t
 *   forward  (data to latent):  z = b*x + (1-b) * (x - t) * exp(-s),   logDet = -sum_i s_i
 *   inverse  (latent to data):  x = b*z + (1-b) * (z * exp(s) + t),    logDet = +sum_i s_i
 *
 * This is the sign convention of the classic PyTorch RealNVP tutorial (its `f` is our forward). The
 * `tanh` keeps an untrained conditioner from producing huge exp(s) and the learned per-dimension `scale`
 * (initialised to 1, as in the official RealNVP code's rescaling) lets the bound grow where the data needs
 * it. Inputs of any trailing shape are flattened per example to the mask's length, so the same layer works
 * on `[B, D]` vectors and small `[B, H, W, C]` images.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { type Activation, MLP } from "../nn/mlp.ts";
import { childParameters, type Module, type NamedTensors } from "../nn/module.ts";
import type { Bijector, Transformed } from "./bijector.ts";

/** A network from `[batch, inDim]` (masked input, then context) to `[batch, 2 * dim]`: raw scale, shift. */
export interface Conditioner extends Module {
  apply(h: tf.Tensor2D): tf.Tensor2D;
}

/** Separate scale and shift networks (the tutorial's `nets`/`nett`), presented as one conditioner. */
export class PairConditioner implements Conditioner {
  constructor(readonly scaleNet: MLP, readonly shiftNet: MLP) {}

  apply(h: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => tf.concat([this.scaleNet.apply(h), this.shiftNet.apply(h)], 1));
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters({ s: this.scaleNet, t: this.shiftNet });
  }
}

export interface CouplingNetOptions {
  /** Flattened data dimension D. */
  readonly dim: number;
  /** Context dimension (default 0: no context). */
  readonly contextDim?: number;
  readonly hidden: readonly number[];
  readonly activation?: Activation;
  /** Separate s and t networks (default true, as in the tutorial) or one network with 2D outputs. */
  readonly separate?: boolean;
  /** Zero output layers: the coupling starts as the identity (default false). */
  readonly zeroOutput?: boolean;
}

/** An MLP conditioner for {@link AffineCoupling}; all weights drawn from `rng`. */
export function couplingNet(rng: Rng, opts: CouplingNetOptions): Conditioner {
  const inDim = opts.dim + (opts.contextDim ?? 0);
  const base = { inDim, hidden: opts.hidden, activation: opts.activation, zeroOutput: opts.zeroOutput };
  if (opts.separate === false) return new MLP(rng, { ...base, outDim: 2 * opts.dim });
  return new PairConditioner(
    new MLP(rng, { ...base, outDim: opts.dim }),
    new MLP(rng, { ...base, outDim: opts.dim }),
  );
}

/** Alternating binary mask of length `dim`: 1 at even indices (or odd ones when `odd`). */
export function alternatingMask(dim: number, odd = false): Float32Array {
  return Float32Array.from({ length: dim }, (_, i) => ((i % 2 === 0) !== odd ? 1 : 0));
}

/** The RealNVP affine coupling layer; see the file comment for the maths. */
export class AffineCoupling implements Bijector {
  /** The binary mask, `[D]`; a buffer so that checkpoints record it. */
  readonly mask: tf.Variable;
  /** Learned per-dimension bound of |s|, `[D]`, initialised to 1. */
  readonly scale: tf.Variable;
  readonly dim: number;

  constructor(mask: ArrayLike<number>, readonly conditioner: Conditioner, readonly contextDim = 0) {
    const m = Float32Array.from(mask);
    if (m.length === 0 || m.some((v) => v !== 0 && v !== 1)) {
      throw new Error(`AffineCoupling: mask must be a non-empty array of 0/1, got [${Array.from(m)}]`);
    }
    this.dim = m.length;
    this.mask = tf.variable(tf.tensor1d(m), false);
    this.scale = tf.variable(tf.ones([this.dim]));
  }

  /** The masked input (plus context), the bounded log-scale s and the shift t, all zero where b = 1. */
  #params(flat: tf.Tensor2D, context?: tf.Tensor): { s: tf.Tensor2D; t: tf.Tensor2D } {
    const b = this.mask, keep = tf.sub(1, b);
    let h: tf.Tensor2D = tf.mul(flat, b);
    if (this.contextDim > 0) {
      if (!context || context.size !== flat.shape[0] * this.contextDim) {
        throw new Error(
          `AffineCoupling: context must have shape [${flat.shape[0]}, ${this.contextDim}], got ${
            context ? `[${context.shape}]` : "none"
          }`,
        );
      }
      h = tf.concat([h, context.reshape([flat.shape[0], this.contextDim])], 1);
    }
    const out = this.conditioner.apply(h);
    const [raw, t] = tf.split(out, 2, 1) as [tf.Tensor2D, tf.Tensor2D];
    return { s: tf.mul(tf.mul(tf.tanh(raw), this.scale), keep), t: tf.mul(t, keep) };
  }

  #flatten(x: tf.Tensor, what: string): tf.Tensor2D {
    const batch = x.shape[0];
    if (x.rank < 2 || x.size !== batch * this.dim) {
      throw new Error(
        `AffineCoupling: ${what} must have ${this.dim} values per example, got shape [${x.shape}]`,
      );
    }
    return x.reshape([batch, this.dim]);
  }

  forward(x: tf.Tensor, context?: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const flat = this.#flatten(x, "x");
      const { s, t } = this.#params(flat, context);
      const b = this.mask;
      const z = tf.add(tf.mul(flat, b), tf.mul(tf.mul(tf.sub(flat, t), tf.exp(tf.neg(s))), tf.sub(1, b)));
      return { y: z.reshape(x.shape), logDet: tf.neg(tf.sum(s, 1)) as tf.Tensor1D };
    });
  }

  inverse(z: tf.Tensor, context?: tf.Tensor): Transformed {
    return tf.tidy(() => {
      const flat = this.#flatten(z, "z");
      const { s, t } = this.#params(flat, context);
      const b = this.mask;
      const x = tf.add(tf.mul(flat, b), tf.mul(tf.add(tf.mul(flat, tf.exp(s)), t), tf.sub(1, b)));
      return { y: x.reshape(z.shape), logDet: tf.sum(s, 1) as tf.Tensor1D };
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return [["scale", this.scale], ...childParameters({ conditioner: this.conditioner })];
  }

  buffers(): NamedTensors<tf.Variable> {
    return [["mask", this.mask]];
  }
}
