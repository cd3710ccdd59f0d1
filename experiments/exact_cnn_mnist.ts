/**
 * `exact_cnn_mnist`: the exact-gradient baseline of `selfnorm_cnn_mnist` (Keller et al. 2021, Table 1,
 * "Exact CNN 9L", test NLL 637.4 nats): the same 9-layer CNN with ExactConv layers, whose log|det| and
 * gradient come from an LU decomposition of each convolution's dense HWC x HWC matrix at every step (as
 * the reference's `compute_expensive` path). Slow by design: O(784^3) per layer and step at 28 x 28.
 */
import * as tf from "@tensorflow/tfjs";
import { choice } from "../lib/config.ts";
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { cnnKeys, cnnMnistModel } from "./cnn_mnist.ts";
import { ACTIVATIONS, mnistData, mnistKeys, writeMnistPictures } from "./mnist_common.ts";

const config = experimentConfig({
  ...mnistKeys,
  ...cnnKeys,
  activation: choice(ACTIVATIONS, "Spline", "Activation after each convolution but the last"),
}, {
  lr: 1e-3,
  batch_size: 100,
  warmup_epochs: 10,
  epochs: 100,
  log_interval: 100,
  sample_epochs: 1,
  log_timing: true,
});

export const exactCnnMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "exact_cnn_mnist",
  description: "Exact CNN (9 x conv 3x3 + spline, dense LU log-det) on MNIST; paper 637.4 nats",
  config,
  data: (cfg) => mnistData(cfg),
  model: (cfg, data, ctx) => cnnMnistModel(cfg, data as ArrayDataset, ctx, { kind: "exact" }),
  optimizer: (cfg) => tf.train.adam(cfg.lr, 0.9, 0.999),
  sample: (model, data, cfg, ctx, epoch) => writeMnistPictures(model, data as ArrayDataset, cfg, ctx, epoch),
};
