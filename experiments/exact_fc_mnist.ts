/**
 * `exact_fc_mnist`: the exact-gradient baseline of `selfnorm_fc_mnist` (Keller et al. 2021, Table 1,
 * "Exact FC 2L"): the same architecture with ExactFC layers, whose log-determinant and its gradient
 * W^{-T} come from an LU decomposition at every step (O(D^3)). The reference trains the SelfNormFC layer
 * with `modified_grad` and `add_recon_grad` off, which leaves R unused; here the layer has no R at all.
 *
 * Defaults: lr 1e-4, batch 100, 10 warmup epochs, 2 layers, SLR(0.3). Paper: test NLL 947.6 nats.
 */
import * as tf from "@tensorflow/tfjs";
import { choice, ConfigError, int } from "../lib/config.ts";
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { Bijector } from "../lib/flows/bijector.ts";
import { ExactFC } from "../lib/flows/exact.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import {
  activation,
  ACTIVATIONS,
  mnistData,
  mnistKeys,
  mnistModel,
  writeMnistPictures,
} from "./mnist_common.ts";

const config = experimentConfig({
  ...mnistKeys,
  num_layers: int(2, "Number of exact FC layers"),
  activation: choice(ACTIVATIONS, "SLR", "Activation between the layers: SLR(0.3), LLR or Spline"),
}, {
  lr: 1e-4,
  batch_size: 100,
  warmup_epochs: 10,
  epochs: 100,
  log_interval: 100,
  sample_epochs: 1,
  log_timing: true,
});

export const exactFcMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "exact_fc_mnist",
  description: "Exact-gradient FC flow (2 x 784x784 + SLR, LU log-det) on MNIST; paper test NLL 947.6 nats",
  config,
  data: (cfg) => mnistData(cfg),
  model(cfg, data, ctx) {
    if (!(cfg.num_layers >= 1)) throw new ConfigError(`num_layers must be at least 1, got ${cfg.num_layers}`);
    const dim = (data as ArrayDataset).dim;
    const layers: Bijector[] = [];
    for (let l = 0; l < cfg.num_layers; l++) {
      layers.push(new ExactFC(dim, ctx.rng));
      if (l + 1 < cfg.num_layers) layers.push(activation(cfg.activation, dim, ctx.rng));
    }
    return mnistModel(layers, [], [dim], ctx);
  },
  optimizer: (cfg) => tf.train.adam(cfg.lr, 0.9, 0.999),
  sample: (model, data, cfg, ctx, epoch) => writeMnistPictures(model, data as ArrayDataset, cfg, ctx, epoch),
};
