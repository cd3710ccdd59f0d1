/**
 * The Glow model of the Self-Normalizing Flows Glow experiments (Keller et al. 2021, Table 1: "Glow 32L",
 * "SNF Glow 32L"): after Dequantize -> Normalize -> Logit, `num_blocks` blocks, each a Squeeze then
 * `block_size` steps of [ActNorm] -> 1 x 1 convolution -> affine coupling, with a SplitPrior between
 * blocks (28 x 28 x 1 -> 14 x 14 x 4 -> split to 2 channels -> 7 x 7 x 8). The 1 x 1 convolution is exact
 * (Glow: LU log-det of the C x C matrix, no bias, as the reference's `Conv1x1`) or self-normalizing (with
 * a bias, as the reference's `SelfNormConv(..., bias=True)`). `--profile quick` uses 14 x 14 digits, one
 * block of 4 steps and coupling width 64, so that it trains in minutes on a CPU.
 */
import { bool, type Config, ConfigError, type Field, int } from "../lib/config.ts";
import type { ArrayDataset } from "../lib/data/array_dataset.ts";
import { ActNorm } from "../lib/flows/actnorm.ts";
import type { Bijector } from "../lib/flows/bijector.ts";
import { ExactConv } from "../lib/flows/exact.ts";
import { GlowCoupling, SplitPrior, Squeeze } from "../lib/flows/glow.ts";
import type { SelfNormalizing, SelfNormOptions } from "../lib/flows/selfnorm.ts";
import { SelfNormConv } from "../lib/flows/selfnorm_conv.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import type { RunContext } from "../lib/runner/types.ts";
import { mnistDefaults, mnistKeys, mnistModel, type PROFILES } from "./mnist_common.ts";

/** Architecture keys of the Glow experiments (the reference's names and defaults). */
export const glowKeys = {
  num_blocks: int(2, "Blocks (each starts with a Squeeze; quick profile: 1)"),
  block_size: int(16, "Steps of ActNorm -> 1x1 conv -> coupling per block (quick profile: 4)"),
  coupling_width: int(512, "Hidden channels of the coupling networks (quick profile: 64)"),
  actnorm: bool(true, "ActNorm (data-initialised) at the start of every step"),
  split_prior: bool(true, "Factor out half of the channels between blocks (SplitPrior)"),
};

/**
 * The config of a Glow experiment: the MNIST keys, `extra` (e.g. `snfKeys`; keys already present keep
 * their place and take the new default) and {@link glowKeys}; runner defaults {@link mnistDefaults}
 * with lr 1e-3.
 */
export function glowConfig<E extends Record<string, Field>>(extra: E) {
  return experimentConfig({ ...mnistKeys, ...extra, ...glowKeys }, { ...mnistDefaults, lr: 1e-3 });
}

type GlowCfg = Config<typeof glowKeys> & { readonly profile: (typeof PROFILES)[number] };

/** Builds the Glow flow; `selfNorm` options make the 1 x 1 convolutions self-normalizing. */
export function glowMnistModel(
  cfg: GlowCfg,
  data: ArrayDataset,
  ctx: RunContext,
  selfNorm: SelfNormOptions | null,
) {
  const quick = cfg.profile === "quick";
  const blocks = quick ? 1 : cfg.num_blocks, steps = quick ? 4 : cfg.block_size;
  const width = quick ? 64 : cfg.coupling_width;
  const side = Math.round(Math.sqrt(data.dim));
  if (!(blocks >= 1 && steps >= 1 && width >= 1)) {
    throw new ConfigError(
      `num_blocks, block_size and coupling_width must be >= 1, got ${blocks}, ${steps}, ${width}`,
    );
  }
  if (side % 2 ** blocks !== 0) {
    throw new ConfigError(`num_blocks ${blocks} needs the side ${side} divisible by ${2 ** blocks}`);
  }
  let [h, c] = [side, 1];
  const layers: Bijector[] = [], snf: SelfNormalizing[] = [];
  for (let b = 0; b < blocks; b++) {
    layers.push(new Squeeze());
    [h, c] = [h / 2, 4 * c];
    for (let k = 0; k < steps; k++) {
      if (cfg.actnorm) layers.push(new ActNorm(c));
      const geometry = { height: h, width: h, channels: c, kernel: 1 };
      // The exact 1 x 1 convolution has no bias (the reference's Conv1x1); the self-normalizing one has.
      const conv = selfNorm
        ? new SelfNormConv(geometry, ctx.rng, selfNorm)
        : new ExactConv(geometry, ctx.rng, { bias: false });
      layers.push(conv);
      if (selfNorm) snf.push(conv as SelfNormConv);
      layers.push(new GlowCoupling(c, width, ctx.rng));
    }
    if (cfg.split_prior && b < blocks - 1) {
      layers.push(new SplitPrior(c, width, ctx.rng, ctx.rng));
      c /= 2;
    }
  }
  return mnistModel(layers, snf, [h, h, c], ctx, [side, side, 1]);
}
