/**
 * `exact_fc_mnist`: the exact-gradient baseline of `selfnorm_fc_mnist` (Keller et al. 2021, Table 1,
 * "Exact FC 2L"): the same architecture with ExactFC layers, whose log-determinant and its gradient
 * W^{-T} come from an LU decomposition at every step (O(D^3)). The reference trains the SelfNormFC layer
 * with `modified_grad` and `add_recon_grad` off, which leaves R unused; here the layer has no R at all.
 *
 * Defaults: lr 1e-4, batch 100, 10 warmup epochs, 2 layers, SLR(0.3). Paper: test NLL 947.6 nats.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { fcConfig, fcMnistModel, mnistHooks } from "./mnist_common.ts";

const config = fcConfig({}, "exact FC");

export const exactFcMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "exact_fc_mnist",
  description: "Exact-gradient FC flow (2 x 784x784 + SLR, LU log-det) on MNIST; paper test NLL 947.6 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) => fcMnistModel(cfg, data as ArrayDataset, ctx, { kind: "exact" }),
};
