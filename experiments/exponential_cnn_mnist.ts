/**
 * `exponential_cnn_mnist`: the CNN of `selfnorm_cnn_mnist` with convolution exponentials (1x1 + exp of a
 * spectrally normalised 3x3 conv: 6 series terms in training, 13 in evaluation, as the reference) in place
 * of the self-normalizing convolutions (Hoogeboom et al. 2020); the comparison of Keller et al. 2021,
 * Table 1, "Conv-Exp 9L", test NLL 638.1 nats. Trained by the exact likelihood (their log-dets are cheap).
 * Defaults of the reference's `exponential_cnn_mnist.py`: lr 1e-3, batch 100, 10 warmup epochs, Spline
 * activations, 9 layers in 3 blocks.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { cnnConfig, cnnMnistModel } from "./cnn_mnist.ts";
import { mnistHooks } from "./mnist_common.ts";

const config = cnnConfig({});

export const exponentialCnnMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "exponential_cnn_mnist",
  description: "Exponential CNN (9 layers + spline, 3 blocks) on MNIST; paper 638.1 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) => cnnMnistModel(cfg, data as ArrayDataset, ctx, { kind: "exponential" }),
};
