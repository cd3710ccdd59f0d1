/**
 * `emerging_cnn_mnist`: the CNN of `selfnorm_cnn_mnist` with emerging convolutions (1x1 + two autoregressive 2x2 convs) in place of the self-normalizing
 * convolutions (Hoogeboom, van den Berg & Welling 2019); the comparison of Keller et al. 2021, Table 1, "Emerging 9L", test NLL 645.7 nats.
 * Trained by the exact likelihood (their log-dets are cheap). Defaults of the reference's
 * `emerging_cnn_mnist.py`: lr 1e-3, batch 100, 10 warmup epochs, Spline activations, 9 layers in 3 blocks.
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

export const emergingCnnMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "emerging_cnn_mnist",
  description: "Emerging CNN (9 layers + spline, 3 blocks) on MNIST; paper 645.7 nats",
  config,
  data: (cfg) => mnistData(cfg),
  model: (cfg, data, ctx) => cnnMnistModel(cfg, data as ArrayDataset, ctx, { kind: "emerging" }),
  optimizer: (cfg) => tf.train.adam(cfg.lr, 0.9, 0.999),
  sample: (model, data, cfg, ctx, epoch) => writeMnistPictures(model, data as ArrayDataset, cfg, ctx, epoch),
};
