/**
 * The conditional flow of one frame given its context: `numFlowLayers` {@link EsnFlowLayer}s sharing one
 * slope rescale, over a standard normal base,
 *
 *   log p(x | h) = log N(f(x; h); 0, I) + log |det df/dx|,
 *
 * where the data-to-latent map f applies layer L-1 first and layer 0 last (as `frame_logp` of the reference
 * `torch_esn_flow.py`, which loops over `reversed(self.nets)`), so sampling `x = f^{-1}(z; h)` starts at
 * layer 0. Layer i here is `nets[i]` there, with the same parameters.
 *
 * Fused path: the context enters every conditioner only through its first layer, so
 * {@link contextWeight} stacks the `[N, l]` context blocks of all layers into one `[N, L * l]` matrix and
 * {@link logProbProjected} takes the result of the single product `h W + c` (R x N x L*l multiply-adds).
 */
import * as tf from "@tensorflow/tfjs";
import { type Bijector, checkShape, type Transformed } from "../flows/bijector.ts";
import type { ConditionerOptions } from "../nn/conditioner.ts";
import type { Linear } from "../nn/linear.ts";
import { childParameters, type NamedTensors } from "../nn/module.ts";
import { ToeplitzLinear, toeplitzRowsT } from "../nn/toeplitz.ts";
import type { Rng } from "../rng.ts";
import { EsnFlowLayer, halfSplit } from "./esn_flow_layer.ts";
import { type DenseWeights, fusedFlowLogProb, type FusedFlowPath } from "./fused_flow.ts";
import { constantMatMul, matMul } from "./products.ts";

function weightsOf(layer: Linear): DenseWeights {
  return [layer.weight as tf.Tensor2D, layer.bias as tf.Tensor1D];
}

const LOG_2PI = Math.log(2 * Math.PI);

/** Sizes of an {@link EsnFlow}: its conditioners' and the number of layers. */
export interface EsnFlowOptions extends ConditionerOptions {
  /** Number of flow layers L (>= 1). */
  readonly numFlowLayers: number;
}

/**
 * Column blocks of the given widths, by `tf.slice` (tfjs-wasm's `split` along columns is ~50x slower than
 * the slices it amounts to: 7.7 ms against 0.15 ms at [974, 120], measured).
 */
export function columnBlocks(x: tf.Tensor2D, widths: readonly number[]): tf.Tensor2D[] {
  if (widths.length > 1 && widths.every((w) => w === widths[0]) && widths[0] * widths.length === x.shape[1]) {
    return equalColumnBlocks(x, widths.length);
  }
  let at = 0;
  return widths.map((w) => {
    const block = tf.slice(x, [0, at], [-1, w]) as tf.Tensor2D;
    at += w;
    return block;
  });
}

/**
 * `count` column blocks of equal width `w` of `x: [R, count * w]`: `x` viewed as `[R, count, w]`,
 * transposed to `[count, R, w]` and unstacked (contiguous slices). The same values as {@link columnBlocks};
 * the gradient is one stack and one transpose where the slices' gradient is one `[R, count * w]` pad per
 * block and `count - 1` adds (esn_flow_timit training step on wasm, `tf.profile`, 3 runs each: slices,
 * pads and adds ~10 ms of kernel time, transposes, unstack and stack ~4.5 ms).
 */
export function equalColumnBlocks(x: tf.Tensor2D, count: number): tf.Tensor2D[] {
  const [rows, cols] = x.shape;
  if (!(Number.isInteger(count) && count >= 1 && cols % count === 0)) {
    throw new Error(`equalColumnBlocks: ${cols} columns do not split into ${count} equal blocks`);
  }
  const blocks = tf.transpose(tf.reshape(x, [rows, count, cols / count]), [1, 0, 2]);
  return tf.unstack(blocks) as tf.Tensor2D[];
}

/** `log N(z; 0, I)` per row of `z: [R, D]`. */
export function standardNormalLogProb(z: tf.Tensor2D): tf.Tensor1D {
  return tf.sub(tf.mul(-0.5, tf.sum(tf.square(z), -1)), 0.5 * z.shape[1] * LOG_2PI) as tf.Tensor1D;
}

/** `log p(x | h) = log N(f(x; h); 0, I) + log |det df/dx|` with L {@link EsnFlowLayer}s (module doc). */
export class EsnFlow implements Bijector {
  readonly layers: readonly EsnFlowLayer[];
  /** The per-dimension slope rescale shared by all layers, `[D]`, initialised to 1. */
  readonly rescale: tf.Variable;

  constructor(readonly opts: EsnFlowOptions, rng: Rng) {
    if (!(Number.isInteger(opts.numFlowLayers) && opts.numFlowLayers >= 1)) {
      throw new Error(`EsnFlow: n_flow_layers must be an integer >= 1, got ${opts.numFlowLayers}`);
    }
    this.rescale = tf.tidy(() => tf.variable(tf.ones([opts.frameDim])));
    this.layers = Array.from(
      { length: opts.numFlowLayers },
      () => new EsnFlowLayer(opts, rng, { rescale: this.rescale }),
    );
  }

  get frameDim(): number {
    return this.opts.frameDim;
  }

  get contextDim(): number {
    return this.opts.contextDim;
  }

  /** Width of the context projection: L * l. */
  get projectionDim(): number {
    return this.layers.length * this.opts.hiddenDim;
  }

  /** Rows `from..to-1` of every first layer's `W_1^T`, side by side, `[to - from, L * l]`. */
  #firstRowsT(from: number, to: number): tf.Tensor2D {
    const firsts = this.layers.map((l) => l.conditioner.first);
    if (firsts.every((f) => f instanceof ToeplitzLinear)) {
      return toeplitzRowsT(firsts as ToeplitzLinear[], from, to);
    }
    return tf.concat(this.layers.map((l) => l.conditioner.firstRowsT(from, to)), 1);
  }

  /** The context blocks of all first layers side by side, `[N, L * l]`. */
  contextWeight(): tf.Tensor2D {
    const { frameDim: d, contextDim: n } = this.opts;
    return this.#firstRowsT(d, d + n);
  }

  /** The frame blocks of all first layers side by side, `[D, L * l]`. */
  frameWeight(): tf.Tensor2D {
    return this.#firstRowsT(0, this.opts.frameDim);
  }

  /** The first-layer biases side by side, `[L * l]`. */
  contextBias(): tf.Tensor1D {
    return tf.concat(this.layers.map((l) => l.conditioner.firstBias()));
  }

  /** `h W + c`, `[R, L * l]` (see {@link contextWeight}; `constant`: `h` needs no gradient). */
  projectContext(h: tf.Tensor2D, constant = false): tf.Tensor2D {
    const w = this.contextWeight();
    return tf.add(constant ? constantMatMul(h, w) : matMul(h, w), this.contextBias());
  }

  #slices(hc: tf.Tensor2D): tf.Tensor2D[] {
    return columnBlocks(hc, this.layers.map(() => this.opts.hiddenDim));
  }

  #check(x: tf.Tensor, context: tf.Tensor | undefined): asserts context is tf.Tensor2D {
    checkShape("EsnFlow", "x", x, [this.frameDim]);
    if (!context) throw new Error("EsnFlow: a context h_{t-1} of shape [batch, esn_dim] is required");
    checkShape("EsnFlow", "context", context, [this.contextDim]);
  }

  forward(x: tf.Tensor, context?: tf.Tensor): Transformed {
    this.#check(x, context);
    return this.forwardProjected(x as tf.Tensor2D, this.projectContext(context));
  }

  inverse(z: tf.Tensor, context?: tf.Tensor): Transformed {
    this.#check(z, context);
    return this.inverseProjected(z as tf.Tensor2D, this.projectContext(context));
  }

  /** Data to latent given `hc = projectContext(h)`: layers L-1, ..., 0. */
  forwardProjected(x: tf.Tensor2D, hc: tf.Tensor2D): Transformed {
    const parts = this.#slices(hc);
    let z = x;
    let logDet: tf.Tensor1D | null = null;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const out = this.layers[i].forwardProjected(z, parts[i]);
      z = out.y as tf.Tensor2D;
      logDet = logDet ? tf.add(logDet, out.logDet) : out.logDet;
    }
    return { y: z, logDet: logDet! };
  }

  /** Latent to data given `hc = projectContext(h)`: layers 0, ..., L-1. */
  inverseProjected(z: tf.Tensor2D, hc: tf.Tensor2D): Transformed {
    const parts = this.#slices(hc);
    let x = z;
    let logDet: tf.Tensor1D | null = null;
    this.layers.forEach((layer, i) => {
      const out = layer.inverseProjected(x, parts[i]);
      x = out.y as tf.Tensor2D;
      logDet = logDet ? tf.add(logDet, out.logDet) : out.logDet;
    });
    return { y: x, logDet: logDet! };
  }

  /**
   * `log p(x | h)` per row given `hc = projectContext(h)`, `[R]`: one op with a hand-written gradient
   * (`fused_flow.ts`), the same values and gradients as {@link logProbComposed}. `path` overrides where it
   * runs (default: host kernels on wasm and cpu, tfjs ops elsewhere).
   */
  logProbProjected(x: tf.Tensor2D, hc: tf.Tensor2D, path?: FusedFlowPath): tf.Tensor1D {
    return fusedFlowLogProb({
      x,
      hc,
      frameWeight: this.frameWeight(),
      rescale: this.rescale as tf.Tensor1D,
      split: halfSplit(this.frameDim),
      layers: this.layers.map(({ conditioner: c }) => ({
        hidden: c.hidden.map(weightsOf),
        slope: weightsOf(c.slope),
        intercept: weightsOf(c.intercept),
      })),
    }, path);
  }

  /** {@link logProbProjected} by composing the layers (autodiff; the reference the fused op is tested against). */
  logProbComposed(x: tf.Tensor2D, hc: tf.Tensor2D): tf.Tensor1D {
    const { y, logDet } = this.forwardProjected(x, hc);
    return tf.add(logDet, standardNormalLogProb(y as tf.Tensor2D));
  }

  /** `log p(x | h)` per row, `x: [R, D]`, `h: [R, N]` (`constant`: `h` needs no gradient). */
  logProb(x: tf.Tensor2D, h: tf.Tensor2D, constant = false): tf.Tensor1D {
    this.#check(x, h);
    return this.logProbProjected(x, this.projectContext(h, constant));
  }

  parameters(): NamedTensors<tf.Variable> {
    return [
      ...childParameters(Object.fromEntries(this.layers.map((l, i) => [`layer/${i}`, l]))),
      ["rescale", this.rescale],
    ];
  }
}
