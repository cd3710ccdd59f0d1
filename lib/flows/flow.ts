/**
 * A normalizing flow: a bijector `f` (data to latent) on top of a base density (nflows' `Flow`).
 *
 *   log p(x | c) = log p_base(f(x; e(c))) + log|det df/dx|,      sampling: x = f^{-1}(z; e(c)), z ~ p_base
 *
 * where `e` is an optional context embedding computed once and passed to every layer.
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, DensityModel } from "../runner/types.ts";
import type { Rng } from "../rng.ts";
import { childBuffers, childParameters, type Module, type NamedTensors } from "../nn/module.ts";
import { readToHost } from "../host_read.ts";
import { type Bijector, hostTensorsOf, type TrainingMode } from "./bijector.ts";
import type { StandardNormal } from "./normal.ts";

/** A context embedding network, e.g. an MLP over a class one-hot. */
export interface Embedding extends Module {
  apply(context: tf.Tensor2D): tf.Tensor2D;
}

export class Flow implements Module {
  constructor(
    readonly transform: Bijector,
    readonly base: StandardNormal,
    readonly embedding?: Embedding,
  ) {}

  #embed(context?: tf.Tensor): tf.Tensor | undefined {
    if (!context || !this.embedding) return context;
    return this.embedding.apply(context as tf.Tensor2D);
  }

  /** The latent `f(x)` and `log p(x)` per example, `[batch]`. */
  forwardAndLogProb(x: tf.Tensor, context?: tf.Tensor): { z: tf.Tensor; logProb: tf.Tensor1D } {
    return tf.tidy(() => {
      const { y, logDet } = this.transform.forward(x, this.#embed(context));
      return { z: y, logProb: tf.add(this.base.logProb(y), logDet) };
    });
  }

  /** `log p(x | context)` per example, `[batch]`, in nats. */
  logProb(x: tf.Tensor, context?: tf.Tensor): tf.Tensor1D {
    return tf.tidy(() => this.forwardAndLogProb(x, context).logProb);
  }

  /**
   * `n` samples `[n, ...eventShape]`, base draws from `rng`. With a context it must have `n` rows (one
   * per sample).
   */
  sample(n: number, rng: Rng, context?: tf.Tensor): tf.Tensor {
    if (context && context.shape[0] !== n) {
      throw new Error(`Flow.sample: context has ${context.shape[0]} rows, expected n = ${n}`);
    }
    const z = this.base.sample(n, rng);
    try {
      return tf.tidy(() => this.transform.inverse(z, this.#embed(context)).y);
    } finally {
      z.dispose();
    }
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters({ embedding: this.embedding, transform: this.transform });
  }

  buffers(): NamedTensors<tf.Variable> {
    return childBuffers({ embedding: this.embedding, transform: this.transform });
  }
}

/**
 * Reads what the flow's layers read on the host ({@link Bijector.hostTensors}) for the next training
 * step (`training`: with `modeLayers` in training mode, as the loss sets them) or for evaluation and
 * sampling; the `prepare` of the flow models ({@link DensityModel.prepare}).
 */
export function prepareFlow(
  flow: Flow,
  training: boolean,
  modeLayers: readonly TrainingMode[] = [],
): Promise<void> {
  const before = modeLayers.map((l) => l.training);
  for (const l of modeLayers) l.training = training;
  try {
    return readToHost(hostTensorsOf([flow.transform]));
  } finally {
    modeLayers.forEach((l, i) => (l.training = before[i]));
  }
}

/** A batch the {@link FlowDensityModel} understands: data `x` and an optional per-example context. */
export interface FlowBatch extends Batch {
  readonly x: tf.Tensor;
  readonly context?: tf.Tensor;
}

/** Adapts a {@link Flow} to the runner's {@link DensityModel} (e.g. over `VectorBatch`es). */
export class FlowDensityModel<B extends FlowBatch = FlowBatch> implements DensityModel<B> {
  constructor(readonly flow: Flow) {}

  logProb(batch: B): tf.Tensor1D {
    return this.flow.logProb(batch.x, batch.context);
  }

  prepare(training: boolean): Promise<void> {
    return prepareFlow(this.flow, training);
  }

  parameters(): NamedTensors<tf.Variable> {
    return this.flow.parameters();
  }

  buffers(): NamedTensors<tf.Variable> {
    return this.flow.buffers();
  }
}
