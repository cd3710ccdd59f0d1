/**
 * `emerging_cnn_mnist`: the CNN of `selfnorm_cnn_mnist` with emerging convolutions (1x1 + two autoregressive 2x2 convs) in place of the self-normalizing
 * convolutions (Hoogeboom, van den Berg & Welling 2019); the comparison of Keller et al. 2021, Table 1, "Emerging 9L", test NLL 645.7 nats.
 * Trained by the exact likelihood (their log-dets are cheap). Defaults of the reference's
 * `emerging_cnn_mnist.py`: lr 1e-3, batch 100, 10 warmup epochs, Spline activations, 9 layers in 3 blocks.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { cnnConfig, cnnMnistModel } from "./cnn_mnist.ts";
import { mnistHooks } from "./mnist_common.ts";

const config = cnnConfig({});

export const emergingCnnMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "emerging_cnn_mnist",
  description: "Emerging CNN (9 layers + spline, 3 blocks) on MNIST; paper 645.7 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) => cnnMnistModel(cfg, data as ArrayDataset, ctx, { kind: "emerging" }),
};
