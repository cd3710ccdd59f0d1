/**
 * A mixture of K conditional flows for one frame given its context h = h_{t-1}:
 *
 *   p(x_t | h_{t-1}) = sum_k w_k p_k(x_t | h_{t-1}),   log p = logsumexp_k(log w_k + log p_k)
 *
 * The mixture lives at the frame level (every frame chooses its component afresh given its context), not
 * at the sequence level. Weights are `softmax(logits)` (`weights: "static"`, logits initialised to 0) or
 * `softmax(h V + c)` (`weights: "context"`). K = 1 is the plain flow (no weights, no extra parameters, the
 * parameter set of the reference model).
 *
 * Fused path: the context projections of all K flows (and of the context-dependent logits) are one
 * `[R, N] x [N, K * L * l (+ K)]` product per frame batch. On WebGPU, a single flow on fixed states outside a
 * gradient tape (evaluation) runs as the WGSL kernels of `lib/webgpu/esn_flow_device.ts`.
 */
import * as tf from "@tensorflow/tfjs";
import { Linear } from "../nn/linear.ts";
import { childParameters, type Module, type NamedTensors } from "../nn/module.ts";
import type { Rng } from "../rng.ts";
import { columnBlocks, EsnFlow, type EsnFlowOptions } from "./esn_flow.ts";
import { DeviceEsnFlow } from "../webgpu/esn_flow_device.ts";
import { constantMatMul, matMul } from "./products.ts";

/**
 * True inside `tf.grad`/`variableGrads` (tfjs records a tape): the device kernels, which have no tfjs
 * gradient, serve only log-likelihoods computed outside one.
 */
function recordingGradients(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

/** A conditional density of one frame given its context (the per-frame part of a sequence model). */
export interface FrameDensity extends Module {
  readonly frameDim: number;
  readonly contextDim: number;
  /**
   * `log p(x_r | h_r)` per row: `x: [R, D]`, `h: [R, N]` to `[R]`. `constant` says that `h` needs no
   * gradient (fixed ESN states), which lets the context products take their fast gradient path
   * (`products.ts`).
   */
  logProb(x: tf.Tensor2D, h: tf.Tensor2D, constant?: boolean): tf.Tensor1D;
  /**
   * One draw `x_r ~ p(. | h_r)` per row, `[R, D]`; all randomness from `rng`. Asynchronous (component
   * choices are read back without blocking); manages its own intermediate tensors.
   */
  sample(h: tf.Tensor2D, rng: Rng): Promise<tf.Tensor2D>;
}

/** How mixture weights are made: learned logits (`static`) or a linear map of `h_{t-1}` (`context`). */
export type MixtureWeights = "static" | "context";

/** Sizes of a {@link FlowMixture}: those of each flow, K, and the kind of weights. */
export interface FlowMixtureOptions extends EsnFlowOptions {
  /** Number of flows K (>= 1). */
  readonly numMixtures: number;
  /** How the weights are made (ignored for K = 1; default "static"). */
  readonly weights?: MixtureWeights;
}

/** `x: [R, D]` rows, one per column block `k`, picked by `choice[r]`: `sum_k onehot(choice)_k * xs[k]`. */
function pick(xs: tf.Tensor2D[], choice: Int32Array): tf.Tensor2D {
  if (xs.length === 1) return xs[0];
  const onehot = tf.oneHot(tf.tensor1d(choice, "int32"), xs.length).toFloat(); // [R, K]
  return tf.sum(tf.mul(tf.stack(xs, 1), tf.expandDims(onehot, 2)), 1) as tf.Tensor2D;
}

/** `p(x_t | h) = sum_k w_k p_k(x_t | h)` over K {@link EsnFlow}s (see the module doc). */
export class FlowMixture implements FrameDensity {
  readonly flows: readonly EsnFlow[];
  /** Static logits `[K]` (K > 1, static weights). */
  readonly logits: tf.Variable | null;
  /** Context-dependent logits `h V + c` (K > 1, context weights). */
  readonly gate: Linear | null;

  constructor(readonly opts: FlowMixtureOptions, rng: Rng) {
    const k = opts.numMixtures;
    if (!(Number.isInteger(k) && k >= 1)) throw new Error(`FlowMixture: num_mixtures must be >= 1, got ${k}`);
    const weights = opts.weights ?? "static";
    if (weights !== "static" && weights !== "context") {
      throw new Error(`FlowMixture: mixture_weights must be "static" or "context", got "${weights}"`);
    }
    this.flows = Array.from({ length: k }, () => new EsnFlow(opts, rng));
    this.logits = k > 1 && weights === "static" ? tf.tidy(() => tf.variable(tf.zeros([k]))) : null;
    this.gate = k > 1 && weights === "context" ? new Linear(opts.contextDim, k, rng) : null;
  }

  get frameDim(): number {
    return this.opts.frameDim;
  }

  get contextDim(): number {
    return this.opts.contextDim;
  }

  /** Context projections of every flow (and the gate logits), from one product: `[R, P_k]` each. */
  #project(h: tf.Tensor2D, constant = false): { parts: tf.Tensor2D[]; gate: tf.Tensor2D | null } {
    const ws = this.flows.map((f) => f.contextWeight());
    const bs = this.flows.map((f) => f.contextBias());
    if (this.gate) {
      ws.push(this.gate.weight as tf.Variable<tf.Rank.R2>);
      bs.push(this.gate.bias as tf.Variable<tf.Rank.R1>);
    }
    const w = ws.length === 1 ? ws[0] : tf.concat(ws, 1), b = bs.length === 1 ? bs[0] : tf.concat(bs);
    const all = tf.add(constant ? constantMatMul(h, w) : matMul(h, w), b) as tf.Tensor2D;
    const split = ws.length === 1 ? [all] : columnBlocks(all, ws.map((w) => w.shape[1]));
    return { parts: split.slice(0, this.flows.length), gate: this.gate ? split[this.flows.length] : null };
  }

  /** `log w_k` per row, `[R, K]`, from the static logits or the gate's projection. */
  #logWeights(rows: number, gate: tf.Tensor2D | null): tf.Tensor2D {
    if (gate) return tf.logSoftmax(gate);
    return tf.tile(tf.expandDims(tf.logSoftmax(this.logits!), 0), [rows, 1]) as tf.Tensor2D;
  }

  logProb(x: tf.Tensor2D, h: tf.Tensor2D, constant = false): tf.Tensor1D {
    if (x.shape[1] !== this.frameDim || h.shape[1] !== this.contextDim || x.shape[0] !== h.shape[0]) {
      throw new Error(
        `FlowMixture.logProb: x [${x.shape}] and h [${h.shape}] must be [R, ${this.frameDim}] and [R, ${this.contextDim}]`,
      );
    }
    const device = constant && this.flows.length === 1 && !recordingGradients()
      ? DeviceEsnFlow.of(this.flows[0])
      : null;
    if (device) return device.logProb(x, h);
    const { parts, gate } = this.#project(h, constant);
    const lps = this.flows.map((f, k) => f.logProbProjected(x, parts[k]));
    if (lps.length === 1) return lps[0];
    return tf.logSumExp(tf.add(tf.stack(lps, 1), this.#logWeights(x.shape[0], gate)), 1) as tf.Tensor1D;
  }

  /** The flow when K = 1, else null. */
  singleFlow(): EsnFlow | null {
    return this.flows.length === 1 ? this.flows[0] : null;
  }

  /** Mixture weights per row, `[R, K]` (all 1 for K = 1). */
  weights(h: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      if (this.flows.length === 1) return tf.ones([h.shape[0], 1]);
      const gate = this.gate ? tf.add(tf.matMul(h, this.gate.weight), this.gate.bias!) as tf.Tensor2D : null;
      return tf.exp(this.#logWeights(h.shape[0], gate));
    });
  }

  async sample(h: tf.Tensor2D, rng: Rng): Promise<tf.Tensor2D> {
    const rows = h.shape[0], d = this.frameDim, k = this.flows.length;
    const choice = new Int32Array(rows);
    if (k > 1) {
      const w = this.weights(h);
      const values = await w.data();
      w.dispose();
      for (let r = 0; r < rows; r++) choice[r] = rng.categorical(values.subarray(r * k, (r + 1) * k));
    }
    const z = rng.normals(rows * d);
    return tf.tidy(() => {
      const { parts } = this.#project(h);
      const zt = tf.tensor2d(z, [rows, d]);
      return pick(this.flows.map((f, i) => f.inverseProjected(zt, parts[i]).y as tf.Tensor2D), choice);
    });
  }

  parameters(): NamedTensors<tf.Variable> {
    const out = [...childParameters(Object.fromEntries(this.flows.map((f, i) => [`flow/${i}`, f])))];
    if (this.logits) out.push(["logits", this.logits]);
    if (this.gate) out.push(...childParameters({ gate: this.gate }));
    return out;
  }
}
