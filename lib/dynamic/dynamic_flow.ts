/**
 * The sequence model: an encoder of the past and a conditional density of the next frame,
 *
 *   log p(x_1..x_T) = sum_t log p(x_t | h_{t-1}),   h_0 = 0,   h_t = encoder(h_{t-1}, x_t),
 *
 * with the encoder a fixed echo state network or a trained GRU/RNN, and the frame density a mixture of
 * ESN-conditioned flows or a Gaussian mixture (the variants `dyn_esn_flow`, `dyn_rnn_flow`, `gmm_esn`,
 * `gmm_rnn`; see `build.ts`). Only the real frames of a batch are evaluated (packed, `[R, D]`), and the
 * per-frame terms are summed per sequence with `unsortedSegmentSum`, so padding contributes nothing.
 * The training loss is that of the reference: `-(sum_b log p(sequence_b)) / B`.
 */
import * as tf from "@tensorflow/tfjs";
import type { SequenceBatch } from "../data/sequences.ts";
import { childBuffers, childParameters, disposeModule, type NamedTensors } from "../nn/module.ts";
import type { Rng } from "../rng.ts";
import type { DensityModel, DeviceStep } from "../runner/types.ts";
import { DeviceEsnFlow } from "../webgpu/esn_flow_device.ts";
import type { DynamicModelConfig } from "./config.ts";
import type { SequenceEncoder } from "./encoder.ts";
import type { EsnFlow } from "./esn_flow.ts";
import { FlowMixture, type FrameDensity } from "./mixture.ts";
import { sampleSequences } from "./sample.ts";

/**
 * How a model was built (`buildDynamicModel`'s arguments): enough for a worker thread to build a replica
 * with the same structure and reservoir (its trainable weights are then copied from this one).
 */
export interface ModelRecipe {
  readonly config: DynamicModelConfig;
  readonly frameDim: number;
  readonly esnSeed: number | string;
}

/** `log p(x_1..x_T) = sum_t log p(x_t | h_{t-1})` for an encoder and a frame density (module doc). */
export class DynamicModel implements DensityModel<SequenceBatch> {
  constructor(
    readonly encoder: SequenceEncoder,
    readonly density: FrameDensity,
    readonly variant = "",
    readonly recipe: ModelRecipe | null = null,
  ) {
    if (encoder.stateDim !== density.contextDim || encoder.frameDim !== density.frameDim) {
      throw new Error(
        `DynamicModel: encoder (frame ${encoder.frameDim}, state ${encoder.stateDim}) does not fit the density ` +
          `(frame ${density.frameDim}, context ${density.contextDim})`,
      );
    }
  }

  get frameDim(): number {
    return this.density.frameDim;
  }

  /** `log p(x_t | h_{t-1})` of every real frame, packed order, `[R]`. */
  frameLogProb(batch: SequenceBatch): tf.Tensor1D {
    return tf.tidy(() =>
      this.density.logProb(batch.x, this.encoder.states(batch), this.encoder.constantStates)
    );
  }

  /**
   * The training step in the WebGPU kernels of `lib/webgpu/esn_flow_device.ts`, where they apply: on
   * WebGPU, fixed (ESN) states, and a single flow as the frame density (the model's parameters are then the
   * flow's). Null otherwise.
   */
  deviceStep(batch: SequenceBatch): DeviceStep | null {
    const flow = this.#singleFlow();
    if (!flow || !this.encoder.constantStates || this.parameters().length !== flow.parameters().length) {
      return null;
    }
    const device = DeviceEsnFlow.of(flow);
    if (!device) return null;
    const h = this.encoder.states(batch);
    return {
      gradients: () => device.gradients(batch.x, h, batch.size),
      adam: (slots, clip) => device.adamStep(batch.x, h, batch.size, slots, clip),
    };
  }

  /** `log p(x_1..x_T)` of each sequence, `[B]`. */
  logProb(batch: SequenceBatch): tf.Tensor1D {
    return tf.tidy(() => tf.unsortedSegmentSum(this.frameLogProb(batch), batch.segments, batch.size));
  }

  /** `-(sum of per-sequence log-likelihoods) / B`, the loss of the reference model. */
  loss(batch: SequenceBatch): tf.Scalar {
    return tf.tidy(() => tf.div(tf.neg(tf.sum(this.frameLogProb(batch))), batch.size));
  }

  /** Sequences of the given lengths, drawn autoregressively (see {@link sampleSequences}). */
  sample(lengths: readonly number[], rng: Rng): Promise<Float32Array[]> {
    return sampleSequences(this.encoder, this.density, lengths, rng);
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters({ encoder: this.encoder, density: this.density });
  }

  buffers(): NamedTensors<tf.Variable> {
    return childBuffers({ encoder: this.encoder, density: this.density });
  }

  /** The frame density's flow when it is a single one (the case of the WebGPU kernels). */
  #singleFlow(): EsnFlow | null {
    return this.density instanceof FlowMixture ? this.density.singleFlow() : null;
  }

  dispose(): void {
    const flow = this.#singleFlow();
    if (flow) DeviceEsnFlow.release(flow);
    disposeModule(this);
  }
}
