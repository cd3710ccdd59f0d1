/**
 * A multilayer perceptron: `Linear -> act -> ... -> Linear`, the usual conditioner of coupling layers.
 *
 * Hidden layers use PyTorch's default initialisation (see {@link Linear}); `zeroOutput` makes the last
 * layer zero, so a coupling layer built on it starts as the identity map (Glow, Kingma & Dhariwal 2018),
 * which keeps deep flows stable at the start of training.
 */
import * as tf from "@tensorflow/tfjs";
import type { Rng } from "../rng.ts";
import { Linear } from "./linear.ts";
import { childParameters, type Module, type NamedTensors } from "./module.ts";

export type Activation = "relu" | "tanh" | "leaky_relu";
export const ACTIVATIONS: readonly Activation[] = ["relu", "tanh", "leaky_relu"];

export interface MLPOptions {
  readonly inDim: number;
  /** Widths of the hidden layers (may be empty: a single linear layer). */
  readonly hidden: readonly number[];
  readonly outDim: number;
  /** Hidden nonlinearity (default `relu`); `leaky_relu` has slope 0.01 as in PyTorch. */
  readonly activation?: Activation;
  /** Applied to the output (default none), e.g. `tanh` for bounded scales. */
  readonly outputActivation?: Activation;
  /** Zero-initialise the output layer (default false). */
  readonly zeroOutput?: boolean;
}

function activate(x: tf.Tensor2D, act: Activation): tf.Tensor2D {
  switch (act) {
    case "relu":
      return tf.relu(x);
    case "tanh":
      return tf.tanh(x);
    case "leaky_relu":
      return tf.leakyRelu(x, 0.01);
  }
}

export class MLP implements Module {
  readonly layers: readonly Linear[];
  readonly activation: Activation;
  readonly outputActivation: Activation | null;

  constructor(rng: Rng, opts: MLPOptions) {
    const act = opts.activation ?? "relu";
    for (const a of [act, opts.outputActivation ?? "relu"]) {
      if (!ACTIVATIONS.includes(a)) throw new Error(`MLP: unknown activation "${a}"; valid: ${ACTIVATIONS}`);
    }
    const widths = [opts.inDim, ...opts.hidden, opts.outDim];
    const layers: Linear[] = [];
    for (let i = 0; i + 1 < widths.length; i++) {
      const last = i + 2 === widths.length;
      layers.push(
        new Linear(widths[i], widths[i + 1], rng, { init: last && opts.zeroOutput ? "zeros" : "uniform" }),
      );
    }
    this.layers = layers;
    this.activation = act;
    this.outputActivation = opts.outputActivation ?? null;
  }

  /** `x: [batch, inDim]` to `[batch, outDim]`. */
  apply(x: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      let h = x;
      this.layers.forEach((layer, i) => {
        h = layer.apply(h);
        if (i + 1 < this.layers.length) h = activate(h, this.activation);
      });
      return this.outputActivation ? activate(h, this.outputActivation) : h;
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters(Object.fromEntries(this.layers.map((l, i) => [String(i), l])));
  }
}
