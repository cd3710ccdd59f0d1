/**
 * `selfnorm_glow_mnist`: Glow with self-normalizing 1 x 1 convolutions on MNIST (Keller et al. 2021,
 * Table 1, "SNF Glow 32L", test NLL 575.4 nats). Defaults of the reference's `selfnorm_glow_mnist.py`:
 * lr 1e-3, batch 100, 10 warmup epochs, reconstruction weight lambda = 100, true-inverse samples and
 * reconstruction pictures on.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import { bool, float } from "../lib/config.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { glowConfig, glowMnistModel } from "./glow_mnist.ts";
import { mnistHooks, snfKeys, snfOptions } from "./mnist_common.ts";

const config = glowConfig({
  ...snfKeys,
  recon_loss_weight: float(100, "lambda, the weight of the reconstruction loss (the reference's 100)"),
  sample_true_inv: bool(true, "Also write samples drawn with the exact inverse of every layer"),
  plot_recon: bool(true, "Write test images, their reconstructions and |x - x^| each sample epoch"),
});

export const selfnormGlowMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "selfnorm_glow_mnist",
  description: "Glow with self-normalizing 1x1 convs (lambda 100) on MNIST; paper 575.4 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) => glowMnistModel(cfg, data as ArrayDataset, ctx, snfOptions(cfg)),
};
