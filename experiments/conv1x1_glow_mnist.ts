/**
 * `conv1x1_glow_mnist`: Glow with exact invertible 1 x 1 convolutions on MNIST (Keller et al. 2021,
 * Table 1, "Glow 32L", test NLL 575.7 nats): 2 blocks of 16 steps, ActNorm, SplitPrior, coupling width
 * 512 (experiments/glow_mnist.ts). Defaults of the reference's `conv1x1_glow_mnist.py`: lr 1e-3,
 * batch 100, 10 warmup epochs.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { glowConfig, glowMnistModel } from "./glow_mnist.ts";
import { mnistHooks } from "./mnist_common.ts";

const config = glowConfig({});

export const conv1x1GlowMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "conv1x1_glow_mnist",
  description: "Glow (2 x 16 steps, exact 1x1 convs, split prior) on MNIST; paper 575.7 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) => glowMnistModel(cfg, data as ArrayDataset, ctx, null),
};
