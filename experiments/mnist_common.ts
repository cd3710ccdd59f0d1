/**
 * Shared pieces of the MNIST experiments of the Self-Normalizing Flows registry (Keller et al. 2021):
 * config keys, the data builder, the flow model (preprocessing chain + layers + standard normal), and
 * the pictures (samples 10 per row, true-inverse samples, reconstructions).
 *
 * Profiles: `paper` is the reference's setting (28 x 28 digits, every training image); `quick` uses
 * 14 x 14 digits (2 x 2 average pooling) and at most 2,000 training images so that every MNIST
 * experiment trains in minutes on a CPU. Numbers from the two profiles are not comparable.
 */
import * as tf from "@tensorflow/tfjs";
import { adam } from "../lib/runner/adam.ts";
import { readAndDispose } from "../lib/backend.ts";
import { bool, choice, type Config, ConfigError, type Field, float, int, str } from "../lib/config.ts";
import type { ArrayDataset, VectorBatch } from "../lib/data/array_dataset.ts";
import { loadMnist } from "../lib/data/mnist.ts";
import { LearnableLeakyRelu, SmoothLeakyRelu, SplineActivation } from "../lib/flows/activations.ts";
import { type Bijector, hostTensorsOf, type TrainingMode } from "../lib/flows/bijector.ts";
import { ExactFC } from "../lib/flows/exact.ts";
import { Flow } from "../lib/flows/flow.ts";
import { StandardNormal } from "../lib/flows/normal.ts";
import { imagePreprocessing } from "../lib/flows/preprocess.ts";
import {
  type SelfNormalizing,
  SelfNormFC,
  SelfNormFlowModel,
  type SelfNormOptions,
} from "../lib/flows/selfnorm.ts";
import { FlowSequential } from "../lib/flows/sequential.ts";
import { imageGrid, writePng } from "../lib/plot/mod.ts";
import type { Rng } from "../lib/rng.ts";
import { commonConfig, experimentConfig } from "../lib/runner/common_config.ts";
import { join } from "../lib/runner/run_dir.ts";
import type { Dataset, DensityModel, RunContext } from "../lib/runner/types.ts";

/** The `profile` choices (see the module comment). */
export const PROFILES = ["paper", "quick"] as const;

/** Keys every MNIST experiment has. */
export const mnistKeys = {
  profile: choice(PROFILES, "paper", "paper: 28x28, all training images; quick: 14x14, at most 2,000"),
  mnist_dir: str(
    "",
    "Directory with the MNIST IDX files (standard 50k/10k/10k protocol); empty: bundled digits",
  ),
  split_seed: int(0, "Seed of the train/val/test split of the bundled 10,000 digits"),
  max_train: int(null, "Use at most this many training images (none: the profile's choice)", {
    nullable: true,
  }),
  sample_true_inv: bool(false, "Also write samples drawn with the exact inverse of every layer"),
  plot_recon: bool(
    false,
    "Write test images, their reconstructions x^ = R(W x) and |x - x^| each sample epoch",
  ),
};

/** Keys of the self-normalizing experiments (names and defaults of the reference). */
export const snfKeys = {
  modified_grad: bool(true, "Train with the self-normalized gradient (false: exact log-det gradient)"),
  add_recon_grad: bool(true, "Add the reconstruction loss lambda ||x - R W x||^2 of every layer"),
  sym_recon_grad: bool(false, "Average it with the symmetric loss ||z - W R z||^2"),
  only_R_recon: bool(false, "The reconstruction loss updates R only"),
  recon_loss_weight: float(1, "lambda, the weight of the reconstruction loss"),
};

type MnistCfg = Config<typeof mnistKeys>;
type SnfCfg = Config<typeof snfKeys>;
type PictureCfg = MnistCfg & { readonly n_samples: number; readonly modified_grad?: boolean };

/**
 * Runner defaults of every MNIST experiment (the reference's): batch 100, 10 warmup epochs, 100 epochs,
 * the loss logged every 100 steps, samples every epoch. Experiments add their `lr` (and `log_timing`).
 */
export const mnistDefaults = {
  batch_size: 100,
  warmup_epochs: 10,
  epochs: 100,
  log_interval: 100,
  sample_epochs: 1,
} as const satisfies { [K in keyof typeof commonConfig]?: (typeof commonConfig)[K]["default"] };

/**
 * The hooks every MNIST experiment shares, spread into its spec: the digits of {@link mnistData}, Adam
 * with the reference's betas (0.9, 0.999) at `lr`, and the pictures of {@link writeMnistPictures}.
 */
export const mnistHooks = {
  data: (cfg: MnistCfg) => mnistData(cfg),
  optimizer: (cfg: { readonly lr: number }) => adam(cfg.lr, 0.9, 0.999),
  sample: (
    model: DensityModel<VectorBatch>,
    data: Dataset<VectorBatch>,
    cfg: PictureCfg,
    ctx: RunContext,
    epoch: number,
  ) => writeMnistPictures(model, data as ArrayDataset, cfg, ctx, epoch),
};

/** Image side of a profile. */
export function sideOf(cfg: MnistCfg): 28 | 14 {
  return cfg.profile === "quick" ? 14 : 28;
}

/** The digits of the configured source and profile. */
export function mnistData(cfg: MnistCfg): Promise<ArrayDataset> {
  if (cfg.max_train !== null && !(cfg.max_train >= 1)) {
    throw new ConfigError(`max_train must be at least 1 or none, got ${cfg.max_train}`);
  }
  return loadMnist({
    dir: cfg.mnist_dir || null,
    splitSeed: cfg.split_seed,
    side: sideOf(cfg),
    maxTrain: cfg.max_train ?? (cfg.profile === "quick" ? 2000 : null),
  });
}

/** Layer options from the self-normalizing keys. */
export function snfOptions(cfg: SnfCfg): SelfNormOptions {
  return {
    modifiedGrad: cfg.modified_grad,
    addReconGrad: cfg.add_recon_grad,
    symReconGrad: cfg.sym_recon_grad,
    onlyRRecon: cfg.only_R_recon,
    reconLossWeight: cfg.recon_loss_weight,
  };
}

/**
 * The model: Dequantize -> Normalize -> Logit (noise from the run's rng), then `layers`, on a standard
 * normal over `latentShape`; with `imageShape`, the `[B, D]` pixel rows are first viewed as images.
 * Layers with a training mode other than `selfNorm` (e.g. `ConvExp`) have it set by the model's loss too.
 */
export function mnistModel(
  layers: readonly Bijector[],
  selfNorm: readonly SelfNormalizing[],
  latentShape: readonly number[],
  ctx: RunContext,
  imageShape?: readonly number[],
): SelfNormFlowModel<VectorBatch> {
  const pre = imagePreprocessing(ctx.rng);
  const seq = new FlowSequential([...pre, ...layers]);
  const flow = new Flow(imageShape ? new Reshape(imageShape, seq) : seq, new StandardNormal(latentShape));
  const modeLayers = layers.filter((l): l is Bijector & TrainingMode =>
    typeof (l as Partial<TrainingMode>).training === "boolean" && !selfNorm.includes(l as SelfNormalizing)
  );
  return new SelfNormFlowModel<VectorBatch>(flow, selfNorm, modeLayers);
}

/** Applies `inner` to `[B, D]` rows viewed as `[B, ...shape]`; inverse returns rows again. */
class Reshape implements Bijector {
  constructor(readonly shape: readonly number[], readonly inner: Bijector) {}
  forward(x: tf.Tensor) {
    return tf.tidy(() => {
      const out = this.inner.forward(x.reshape([x.shape[0], ...this.shape]));
      return { y: out.y, logDet: out.logDet };
    });
  }
  inverse(z: tf.Tensor) {
    return tf.tidy(() => {
      const out = this.inner.inverse(z);
      return { y: out.y.reshape([z.shape[0], -1]), logDet: out.logDet };
    });
  }
  hostTensors() {
    return hostTensorsOf([this.inner]);
  }
  parameters() {
    return this.inner.parameters();
  }
  buffers() {
    return this.inner.buffers?.() ?? [];
  }
}

/**
 * Writes `samples_epoch<N>.png` (10 per row; self-normalizing layers invert with R unless exact), and
 * with `sample_true_inv` `samples_trueinv_epoch<N>.png`, with `plot_recon` `recon_epoch<N>.png`.
 */
export async function writeMnistPictures(
  model: DensityModel<VectorBatch>,
  data: ArrayDataset,
  cfg: PictureCfg,
  ctx: RunContext,
  epoch: number,
): Promise<string[]> {
  const m = model as SelfNormFlowModel<VectorBatch>;
  const side = Math.round(Math.sqrt(data.dim)), n = cfg.n_samples;
  const grid = (values: Float32Array, count: number, title: string) =>
    imageGrid(values, count, side, side, { range: [0, 256], title, scale: side === 14 ? 4 : 2 });
  const approx = cfg.modified_grad ?? false;
  const files: string[] = [];
  const draw = async (exact: boolean, file: string, title: string) => {
    const [values] = await readAndDispose([m.sample(n, ctx.rng, !exact)]);
    files.push(join(ctx.sampleDir, file));
    await writePng(files[files.length - 1], grid(values, n, title));
  };
  await draw(
    !approx,
    `samples_epoch${epoch}.png`,
    `samples, epoch ${epoch}${approx ? " (inverse by R)" : ""}`,
  );
  if (cfg.sample_true_inv && approx) {
    await draw(true, `samples_trueinv_epoch${epoch}.png`, `samples with the exact inverse, epoch ${epoch}`);
  }
  if (cfg.plot_recon) {
    const k = Math.min(n, data.splits.test.shape[0]);
    const x = data.splits.test.data.slice(0, k * data.dim);
    const xt = tf.tensor2d(x, [k, data.dim]);
    const xHat = await m.reconstruct(xt, approx);
    xt.dispose();
    const diff = x.map((v, i) => Math.abs(v - xHat[i]));
    files.push(join(ctx.sampleDir, `recon_epoch${epoch}.png`));
    const all = new Float32Array([...x, ...xHat, ...diff]);
    await writePng(
      files[files.length - 1],
      grid(all, 3 * k, `test x | reconstruction | |difference|, epoch ${epoch}`),
    );
  }
  return files;
}

/** The `activation` choices, named as the reference. */
export const ACTIVATIONS = ["SLR", "LLR", "Spline"] as const;

/** The reference's activations between linear layers: SLR(0.3), LLR, or a per-value spline (10, 5 bins). */
export function activation(name: (typeof ACTIVATIONS)[number], dim: number, rng: Rng): Bijector {
  switch (name) {
    case "SLR":
      return new SmoothLeakyRelu({ alpha: 0.3 });
    case "LLR":
      return new LearnableLeakyRelu();
    case "Spline":
      return new SplineActivation(dim, rng, { tailBound: 10, individual: true });
  }
}

/** The layer of the FC experiments: self-normalizing (with its options) or exact. */
export type FcLayer =
  | { readonly kind: "selfnorm"; readonly options: SelfNormOptions }
  | { readonly kind: "exact" };

/**
 * The config of an FC experiment (Keller et al. 2021, Table 1, "FC 2L"): the MNIST keys, `extra` (e.g.
 * {@link snfKeys}), `num_layers` (2) layers named `layerName` in the docs and the activation between them
 * (SLR); runner defaults {@link mnistDefaults} with lr 1e-4 and timing logged.
 */
export function fcConfig<E extends Record<string, Field>>(extra: E, layerName: string) {
  return experimentConfig({
    ...mnistKeys,
    ...extra,
    num_layers: int(2, `Number of ${layerName} layers`),
    activation: choice(ACTIVATIONS, "SLR", "Activation between the layers: SLR(0.3), LLR or Spline"),
  }, { ...mnistDefaults, lr: 1e-4, log_timing: true });
}

/** The FC flow: `num_layers` D x D layers of the given kind with an activation between consecutive ones. */
export function fcMnistModel(
  cfg: { readonly num_layers: number; readonly activation: (typeof ACTIVATIONS)[number] },
  data: ArrayDataset,
  ctx: RunContext,
  layer: FcLayer,
): SelfNormFlowModel<VectorBatch> {
  if (!(cfg.num_layers >= 1)) throw new ConfigError(`num_layers must be at least 1, got ${cfg.num_layers}`);
  const dim = data.dim;
  const layers: Bijector[] = [], selfNorm: SelfNormalizing[] = [];
  for (let l = 0; l < cfg.num_layers; l++) {
    const fc = layer.kind === "selfnorm"
      ? new SelfNormFC(dim, ctx.rng, layer.options)
      : new ExactFC(dim, ctx.rng);
    layers.push(fc);
    if (fc instanceof SelfNormFC) selfNorm.push(fc);
    if (l + 1 < cfg.num_layers) layers.push(activation(cfg.activation, dim, ctx.rng));
  }
  return mnistModel(layers, selfNorm, [dim], ctx);
}
