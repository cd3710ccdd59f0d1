/**
 * The conditioner ("NeuralNetwork") of the ESN coupling flow: from a masked frame `b * x` (D values) and
 * a context `h` (N values, the ESN state) to a slope and an intercept for every frame dimension:
 *
 *   q_1 = relu(W_1 [b * x ; h] + c_1)                 W_1: l x (D + N), Toeplitz when `toeplitz`
 *   q_k = relu(W_k q_{k-1} + c_k),  k = 2..numHiddenLayers
 *   s   = tanh(W_s q + c_s),   mu = W_mu q + c_mu     (D values each)
 *
 * as `Conditioner` of the reference `torch_esn_flow.py` (the learned per-dimension rescale of `s` belongs
 * to the flow, which shares one rescale vector across all its conditioners).
 *
 * Speed: `W_1 [b x ; h] = W_1x (b x) + W_1h h`, and `W_1h h` is the same for both couplings of a layer,
 * so it is computed once ({@link projectContext}); a flow stacks the `W_1h` of all its conditioners into
 * one `[N, layers * l]` matrix and does a single large product per frame batch.
 */
import * as tf from "@tensorflow/tfjs";
import * as products from "../dynamic/products.ts";
import type { Rng } from "../rng.ts";
import { Linear } from "./linear.ts";
import { childParameters, type Module, type NamedTensors } from "./module.ts";
import { ToeplitzLinear } from "./toeplitz.ts";

/** Sizes of a {@link ContextConditioner} (config keys in parentheses in the errors). */
export interface ConditionerOptions {
  /** Frame dimension D. */
  readonly frameDim: number;
  /** Context (state) dimension N. */
  readonly contextDim: number;
  /** Width l of the hidden layers. */
  readonly hiddenDim: number;
  /** Number of hidden layers (>= 1): the first `(D + N) -> l`, then `l -> l`. */
  readonly numHiddenLayers: number;
  /** Toeplitz-constrained first layer (D + N + l - 1 free parameters). */
  readonly toeplitz: boolean;
}

/** Raw conditioner outputs: `s` (after tanh, before the flow's rescale) and `mu`, both `[R, D]`. */
export interface SlopeIntercept {
  readonly s: tf.Tensor2D;
  readonly mu: tf.Tensor2D;
}

/** `relu(x W + b)` or `x W + b` for a {@link Linear} layer (fused, with transpose-free gradients). */
export function dense(x: tf.Tensor2D, layer: Linear, activation: "relu" | "linear"): tf.Tensor2D {
  return products.dense(x, layer.weight as tf.Tensor2D, layer.bias as tf.Tensor1D, activation);
}

/** `(b x, h) -> (tanh slope, intercept)` through a (Toeplitz) ReLU network (see the module doc). */
export class ContextConditioner implements Module {
  readonly first: ToeplitzLinear | Linear;
  readonly hidden: readonly Linear[];
  readonly slope: Linear;
  readonly intercept: Linear;

  constructor(readonly opts: ConditionerOptions, rng: Rng) {
    const { frameDim: d, contextDim: n, hiddenDim: l, numHiddenLayers: k } = opts;
    const sizes = { frame_dim: d, esn_dim: n, hidden_layer_dim: l, num_hidden_layers: k };
    for (const [key, v] of Object.entries(sizes)) {
      if (!(Number.isInteger(v) && v >= 1)) {
        throw new Error(`ContextConditioner: ${key} must be an integer >= 1, got ${v}`);
      }
    }
    this.first = opts.toeplitz ? new ToeplitzLinear(d + n, l, rng) : new Linear(d + n, l, rng);
    this.hidden = Array.from({ length: k - 1 }, () => new Linear(l, l, rng));
    this.slope = new Linear(l, d, rng);
    this.intercept = new Linear(l, d, rng);
  }

  /** Rows `from..to-1` of `W_1^T` (of the input `[b x ; h]`), `[to - from, l]`. */
  firstRowsT(from: number, to: number): tf.Tensor2D {
    return this.first instanceof ToeplitzLinear
      ? this.first.rowsT(from, to)
      : tf.slice(this.first.weight, [from, 0], [to - from, -1]) as tf.Tensor2D;
  }

  /** Rows of `W_1^T` that multiply the frame, `[D, l]`. */
  frameWeight(): tf.Tensor2D {
    return this.firstRowsT(0, this.opts.frameDim);
  }

  /** Rows of `W_1^T` that multiply the context, `[N, l]`. */
  contextWeight(): tf.Tensor2D {
    const { frameDim: d, contextDim: n } = this.opts;
    return this.firstRowsT(d, d + n);
  }

  /** The first layer's bias `c_1`, `[l]`. */
  firstBias(): tf.Tensor1D {
    return this.first.bias as tf.Variable<tf.Rank.R1>;
  }

  /**
   * `h W_1h + c_1`, `[R, l]`: the part of the first layer that both couplings share (`constant`: `h` needs
   * no gradient, as the ESN states, see `lib/dynamic/products.ts`).
   */
  projectContext(h: tf.Tensor2D, constant = false): tf.Tensor2D {
    const w = this.contextWeight();
    return tf.add(constant ? products.constantMatMul(h, w) : products.matMul(h, w), this.firstBias());
  }

  /**
   * Slope and intercept for masked frames `xm: [R, D]` given `hc = projectContext(h)`; `frameWeight` may
   * be passed when the caller reuses it across couplings.
   */
  applyProjected(xm: tf.Tensor2D, hc: tf.Tensor2D, frameWeight?: tf.Tensor2D): SlopeIntercept {
    let q = products.relu(tf.add(products.matMul(xm, frameWeight ?? this.frameWeight()), hc));
    for (const layer of this.hidden) q = dense(q, layer, "relu");
    return { s: tf.tanh(dense(q, this.slope, "linear")), mu: dense(q, this.intercept, "linear") };
  }

  /** Slope and intercept for `xm: [R, D]` and context `h: [R, N]` (unfused convenience form). */
  apply(xm: tf.Tensor2D, h: tf.Tensor2D): SlopeIntercept {
    return this.applyProjected(xm, this.projectContext(h));
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters({
      first: this.first,
      ...Object.fromEntries(this.hidden.map((l, i) => [`hidden/${i}`, l])),
      slope: this.slope,
      intercept: this.intercept,
    });
  }
}
