/**
 * Trainable recurrent encoders, the alternative to the fixed echo state network (`dyn_rnn_flow` and
 * `gmm_rnn` of the original design). With h_0 = 0 and PyTorch's equations and initialisation
 * (every weight and bias uniform in ±1/sqrt(N)):
 *
 *   GRU (Cho et al. 2014):  r = σ(W_ir x + b_ir + W_hr h + b_hr),   u = σ(W_iu x + b_iu + W_hu h + b_hu),
 *                           n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),   h' = (1 - u) * n + u * h
 *   plain RNN (Elman 1990): h' = tanh(W_i x + b_i + W_h h + b_h)
 *
 * Trained jointly with the density. The input projections of all time steps are one product before the
 * recurrence; the recurrence runs over the padded batch (padded frames come after the real ones, so they
 * never reach a real frame's state) and the states of the real frames are gathered into packed order.
 */
import * as tf from "@tensorflow/tfjs";
import type { SequenceBatch } from "../data/sequences.ts";
import { uniformValues } from "../nn/linear.ts";
import type { NamedTensors } from "../nn/module.ts";
import type { Rng } from "../rng.ts";
import type { SequenceEncoder } from "./encoder.ts";
import { matMul } from "./products.ts";

/** The recurrent cell: GRU or plain tanh RNN (config `rnn_cell`). */
export type CellType = "gru" | "rnn";
/** The valid {@link CellType}s. */
export const CELL_TYPES: readonly CellType[] = ["gru", "rnn"];

/** Sizes and cell of a {@link RecurrentEncoder}. */
export interface RecurrentEncoderOptions {
  readonly frameDim: number;
  /** State dimension N. */
  readonly stateDim: number;
  readonly cell: CellType;
}

/** A trainable GRU or tanh-RNN encoder, `h_0 = 0` (equations in the module doc). */
export class RecurrentEncoder implements SequenceEncoder {
  readonly frameDim: number;
  readonly stateDim: number;
  readonly cell: CellType;
  /** Trained: gradients flow into the states. */
  readonly constantStates = false;
  /** `[D, G * N]` and `[N, G * N]` with G = 3 gates (r, u, n) for the GRU, 1 for the RNN. */
  readonly inputWeight: tf.Variable;
  readonly inputBias: tf.Variable;
  readonly stateWeight: tf.Variable;
  readonly stateBias: tf.Variable;

  constructor(opts: RecurrentEncoderOptions, rng: Rng) {
    const { frameDim: d, stateDim: n, cell } = opts;
    if (!CELL_TYPES.includes(cell)) {
      throw new Error(`RecurrentEncoder: cell must be gru or rnn, got "${cell}"`);
    }
    if (!(Number.isInteger(d) && d >= 1 && Number.isInteger(n) && n >= 1)) {
      throw new Error(`RecurrentEncoder: frame_dim and rnn_dim must be integers >= 1, got ${d} and ${n}`);
    }
    this.frameDim = d;
    this.stateDim = n;
    this.cell = cell;
    const g = cell === "gru" ? 3 : 1, bound = 1 / Math.sqrt(n);
    // tf.variable copies its initial value: tidy frees the temporary tensor (variables survive tidy).
    const make = (shape: number[]) =>
      tf.tidy(() => tf.variable(tf.tensor(uniformValues(shape.reduce((a, b) => a * b), bound, rng), shape)));
    this.inputWeight = make([d, g * n]);
    this.inputBias = make([g * n]);
    this.stateWeight = make([n, g * n]);
    this.stateBias = make([g * n]);
  }

  initial(n: number): tf.Tensor2D {
    return tf.zeros([n, this.stateDim]);
  }

  /** One step from the input projection `u = x W_i + b_i` (`[n, G * N]`). */
  #cell(h: tf.Tensor2D, u: tf.Tensor2D): tf.Tensor2D {
    const v = tf.add(matMul(h, this.stateWeight as tf.Tensor2D), this.stateBias) as tf.Tensor2D;
    if (this.cell === "rnn") return tf.tanh(tf.add(u, v));
    const [ur, uu, un] = tf.split(u, 3, 1) as tf.Tensor2D[];
    const [vr, vu, vn] = tf.split(v, 3, 1) as tf.Tensor2D[];
    const r = tf.sigmoid(tf.add(ur, vr)), gate = tf.sigmoid(tf.add(uu, vu));
    const cand = tf.tanh(tf.add(un, tf.mul(r, vn)));
    return tf.add(cand, tf.mul(gate, tf.sub(h, cand))); // (1 - u) n + u h
  }

  step(h: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
    return this.#cell(h, tf.add(matMul(x, this.inputWeight as tf.Tensor2D), this.inputBias));
  }

  states(batch: SequenceBatch): tf.Tensor2D {
    if (batch.frameDim !== this.frameDim) {
      throw new Error(
        `RecurrentEncoder: batch frame_dim ${batch.frameDim} != encoder frame_dim ${this.frameDim}`,
      );
    }
    const steps = batch.maxLength, b = batch.size, n = this.stateDim;
    const x = tf.reshape(batch.padded(), [steps * b, this.frameDim]);
    const u = tf.add(matMul(x as tf.Tensor2D, this.inputWeight as tf.Tensor2D), this.inputBias);
    const us = tf.split(tf.reshape(u, [steps, b, -1]), steps, 0).map((t) =>
      tf.squeeze(t, [0]) as tf.Tensor2D
    );
    let h = this.initial(b);
    const hs = [h];
    // The state after the last frame conditions nothing.
    for (let t = 0; t + 1 < steps; t++) hs.push(h = this.#cell(h, us[t]));
    return tf.gather(tf.reshape(tf.stack(hs), [steps * b, n]), batch.rowIndexTensor()) as tf.Tensor2D;
  }

  parameters(): NamedTensors<tf.Variable> {
    return [
      ["input_weight", this.inputWeight],
      ["input_bias", this.inputBias],
      ["state_weight", this.stateWeight],
      ["state_bias", this.stateBias],
    ];
  }
}
