/**
 * `exact_cnn_mnist`: the exact-gradient baseline of `selfnorm_cnn_mnist` (Keller et al. 2021, Table 1,
 * "Exact CNN 9L", test NLL 637.4 nats): the same 9-layer CNN with ExactConv layers, whose log|det| and
 * gradient come from an LU decomposition of each convolution's dense HWC x HWC matrix at every step (as
 * the reference's `compute_expensive` path). Slow by design: O(784^3) per layer and step at 28 x 28.
 */
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { cnnConfig, cnnMnistModel } from "./cnn_mnist.ts";
import { mnistHooks } from "./mnist_common.ts";

const config = cnnConfig({});

export const exactCnnMnist: ExperimentSpec<typeof config, VectorBatch> = {
  name: "exact_cnn_mnist",
  description: "Exact CNN (9 x conv 3x3 + spline, dense LU log-det) on MNIST; paper 637.4 nats",
  config,
  ...mnistHooks,
  model: (cfg, data, ctx) => cnnMnistModel(cfg, data as ArrayDataset, ctx, { kind: "exact" }),
};
