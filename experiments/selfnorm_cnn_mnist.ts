/**
 * `selfnorm_cnn_mnist`: the 9-layer self-normalizing CNN on MNIST (Keller et al. 2021, Table 1,
 * "SNF CNN 9L", test NLL 638.6 nats): 3 blocks of 3 SelfNormConv 3 x 3 layers with spline activations
 * and Squeeze between blocks (experiments/cnn_mnist.ts). Defaults of the reference's
 * `selfnorm_cnn_mnist.py`: lr 1e-3, batch 100, 10 warmup epochs, Spline activation, lambda = 1.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { cnnConfig, cnnMnistModel } from "./cnn_mnist.ts";
import { mnistHooks, snfKeys, snfOptions } from "./mnist_common.ts";

const config = cnnConfig(snfKeys);

export const selfnormCnnMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "selfnorm_cnn_mnist",
  description: "Self-normalizing CNN (9 x SelfNormConv 3x3 + spline, 3 blocks) on MNIST; paper 638.6 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) =>
    cnnMnistModel(cfg, data as ArrayDataset, ctx, { kind: "selfnorm", options: snfOptions(cfg) }),
};
