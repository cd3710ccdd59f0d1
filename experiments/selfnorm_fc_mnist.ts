/**
 * `selfnorm_fc_mnist`: the fully connected self-normalizing flow on MNIST (Keller et al. 2021, Table 1,
 * "SNF FC 2L"): Dequantize -> Normalize -> Logit, then `num_layers` SelfNormFC layers (784 x 784 with
 * learned approximate inverses) with an activation between them, on a standard normal. Trained with the
 * self-normalized gradient and the reconstruction loss; evaluated exactly (LU log-det).
 *
 * Defaults are the reference's `snf/experiments/selfnorm_fc_mnist.py`: lr 1e-4, batch 100, 10 warmup
 * epochs, 2 layers, SLR(0.3), lambda = 1. The paper reports a test NLL of 947.1 nats on the full MNIST
 * protocol (`--mnist_dir`); the bundled digits and `--profile quick` give different, smaller-data numbers.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { fcConfig, fcMnistModel, mnistHooks, snfKeys, snfOptions } from "./mnist_common.ts";

const config = fcConfig(snfKeys, "SelfNormFC");

export const selfnormFcMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "selfnorm_fc_mnist",
  description: "Self-normalizing FC flow (2 x 784x784 + SLR) on MNIST; paper test NLL 947.1 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) =>
    fcMnistModel(cfg, data as ArrayDataset, ctx, { kind: "selfnorm", options: snfOptions(cfg) }),
};
