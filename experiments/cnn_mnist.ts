/**
 * The convolutional MNIST flow of the Self-Normalizing Flows CNN experiments (Keller et al. 2021,
 * Table 1: "SNF CNN 9L", "Exact CNN 9L"): after Dequantize -> Normalize -> Logit, `num_blocks` blocks of
 * `num_layers / num_blocks` 3 x 3 convolutions (C -> C, zero padded) with an activation after every
 * convolution but the last, and a Squeeze between blocks (1 x 28 x 28 -> 4 x 14 x 14 -> 16 x 7 x 7).
 * `--profile quick` works on 14 x 14 digits, where at most 2 blocks fit (14 -> 7).
 */
import { choice, type Config, ConfigError, type Field, int } from "../lib/config.ts";
import type { ArrayDataset } from "../lib/data/array_dataset.ts";
import type { Bijector } from "../lib/flows/bijector.ts";
import type { ConvGeometry } from "../lib/flows/conv_utils.ts";
import { Emerging } from "../lib/flows/emerging.ts";
import { ExactConv } from "../lib/flows/exact.ts";
import { ConvExp } from "../lib/flows/exponential.ts";
import { Squeeze } from "../lib/flows/glow.ts";
import type { SelfNormalizing, SelfNormOptions } from "../lib/flows/selfnorm.ts";
import { SelfNormConv } from "../lib/flows/selfnorm_conv.ts";
import type { Rng } from "../lib/rng.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import type { RunContext } from "../lib/runner/types.ts";
import {
  activation,
  ACTIVATIONS,
  mnistDefaults,
  mnistKeys,
  mnistModel,
  type PROFILES,
} from "./mnist_common.ts";

/** Architecture keys of the CNN experiments. */
export const cnnKeys = {
  num_layers: int(9, "Convolutional layers in total (split evenly over the blocks)"),
  num_blocks: int(3, "Blocks, with a Squeeze between consecutive blocks (quick profile: at most 2)"),
  kernel_size: int(3, "Kernel size k of the k x k convolutions (odd)"),
};

/**
 * The config of a CNN experiment: the MNIST keys, `extra` (e.g. `snfKeys`), {@link cnnKeys} and the
 * activation (Spline); runner defaults of the reference's CNN experiments: {@link mnistDefaults} with
 * lr 1e-3 and timing logged.
 */
export function cnnConfig<E extends Record<string, Field>>(extra: E) {
  return experimentConfig({
    ...mnistKeys,
    ...extra,
    ...cnnKeys,
    activation: choice(ACTIVATIONS, "Spline", "Activation after each convolution but the last"),
  }, { ...mnistDefaults, lr: 1e-3, log_timing: true });
}

type CnnCfg = Config<typeof cnnKeys> & {
  readonly profile: (typeof PROFILES)[number];
  readonly activation: (typeof ACTIVATIONS)[number];
};

/** The convolution of each layer: self-normalizing (with its options), exact, emerging or exponential. */
export type CnnLayer =
  | { readonly kind: "selfnorm"; readonly options: SelfNormOptions }
  | { readonly kind: "exact" | "emerging" | "exponential" };

function makeConv(layer: CnnLayer, g: ConvGeometry, rng: Rng): Bijector {
  switch (layer.kind) {
    case "selfnorm":
      return new SelfNormConv(g, rng, layer.options);
    case "exact":
      return new ExactConv(g, rng);
    case "emerging":
      return new Emerging(g.height, g.width, g.channels, rng);
    case "exponential":
      return new ConvExp(g.height, g.width, g.channels, rng);
  }
}

/** Builds the CNN flow with convolutions of the given kind. */
export function cnnMnistModel(cfg: CnnCfg, data: ArrayDataset, ctx: RunContext, kind: CnnLayer) {
  const side = Math.round(Math.sqrt(data.dim));
  const blocks = cfg.profile === "quick" ? Math.min(cfg.num_blocks, 2) : cfg.num_blocks;
  if (!(blocks >= 1 && cfg.num_layers >= blocks)) {
    throw new ConfigError(`num_layers (${cfg.num_layers}) must be >= num_blocks (${blocks}) >= 1`);
  }
  if (side % 2 ** (blocks - 1) !== 0) {
    throw new ConfigError(
      `num_blocks ${blocks} needs the image side ${side} divisible by ${2 ** (blocks - 1)}`,
    );
  }
  const perBlock = Math.floor(cfg.num_layers / blocks);
  let [h, c] = [side, 1];
  const layers: Bijector[] = [], snf: SelfNormalizing[] = [];
  for (let b = 0; b < blocks; b++) {
    for (let l = 0; l < perBlock; l++) {
      const geometry = { height: h, width: h, channels: c, kernel: cfg.kernel_size };
      const conv = makeConv(kind, geometry, ctx.rng);
      layers.push(conv);
      if (conv instanceof SelfNormConv) snf.push(conv);
      if (!(b === blocks - 1 && l === perBlock - 1)) {
        layers.push(activation(cfg.activation, h * h * c, ctx.rng));
      }
    }
    if (b < blocks - 1) {
      layers.push(new Squeeze());
      [h, c] = [h / 2, 4 * c];
    }
  }
  return mnistModel(layers, snf, [h, h, c], ctx, [side, side, 1]);
}
