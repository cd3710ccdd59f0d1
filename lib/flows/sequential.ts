/**
 * Composition of bijectors: `f = f_K o ... o f_1` in the forward (data to latent) direction.
 *
 *   forward:  x_0 = x, x_k = f_k(x_{k-1}, c),  logDet = sum_k log|det J_{f_k}(x_{k-1})|
 *   inverse:  applies f_K^{-1}, ..., f_1^{-1} in reverse order, summing their log-dets
 *
 * The same context `c` is passed to every layer (nflows' `CompositeTransform`).
 */
import * as tf from "@tensorflow/tfjs";
import { childBuffers, childParameters, type NamedTensors } from "../nn/module.ts";
import { type Bijector, hostTensorsOf, type Transformed } from "./bijector.ts";

export class FlowSequential implements Bijector {
  readonly layers: readonly Bijector[];

  constructor(layers: readonly Bijector[]) {
    if (layers.length === 0) throw new Error("FlowSequential: needs at least one layer, got 0");
    this.layers = [...layers];
  }

  forward(x: tf.Tensor, context?: tf.Tensor): Transformed {
    return this.#run(x, this.layers, (l, v) => l.forward(v, context));
  }

  inverse(z: tf.Tensor, context?: tf.Tensor): Transformed {
    return this.#run(z, [...this.layers].reverse(), (l, v) => l.inverse(v, context));
  }

  #run(
    input: tf.Tensor,
    order: readonly Bijector[],
    step: (l: Bijector, v: tf.Tensor) => Transformed,
  ): Transformed {
    return tf.tidy(() => {
      let y = input;
      let logDet: tf.Tensor1D = tf.zeros([input.shape[0]]);
      for (const layer of order) {
        const out = step(layer, y);
        y = out.y;
        logDet = tf.add(logDet, out.logDet);
      }
      return { y, logDet };
    });
  }

  hostTensors(): tf.Tensor[] {
    return hostTensorsOf(this.layers);
  }

  parameters(): NamedTensors<tf.Variable> {
    return childParameters(this.#children());
  }

  buffers(): NamedTensors<tf.Variable> {
    return childBuffers(this.#children());
  }

  #children() {
    return Object.fromEntries(this.layers.map((l, i) => [String(i), l]));
  }
}
