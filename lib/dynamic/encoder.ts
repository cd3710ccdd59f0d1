/**
 * The encoder of a sequence model: it turns the past frames x_1..x_{t-1} into the state h_{t-1} that
 * conditions frame t. Implemented by the fixed echo state network (`lib/esn.ts`) and by the trainable
 * GRU and plain RNN (`rnn.ts`).
 *
 * Causality is part of the contract: the state of frame t depends on frames before t only, and h_0 (the
 * state of the first frame) is zero.
 */
import type * as tf from "@tensorflow/tfjs";
import type { SequenceBatch } from "../data/sequences.ts";
import type { Module } from "../nn/module.ts";

/** Maps the past frames of each sequence to the states `h_{t-1}` that condition frame t. */
export interface SequenceEncoder extends Module {
  /** Frame dimension D. */
  readonly frameDim: number;
  /** State dimension N. */
  readonly stateDim: number;
  /** `h_{t-1}` for every real frame of the batch, in packed order, `[R, N]`. */
  states(batch: SequenceBatch): tf.Tensor2D;
  /** True for an encoder without trainable parameters: its states need no gradient (see `products.ts`). */
  readonly constantStates: boolean;
  /** The state before any frame, `[n, N]` (zeros). */
  initial(n: number): tf.Tensor2D;
  /** The next state after frames `x: [n, D]` from states `h: [n, N]`. */
  step(h: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D;
}
