/**
 * `realnvp_moons`: RealNVP (Dinh et al. 2017) on two moons, as in the classic PyTorch RealNVP tutorial:
 * 6 affine coupling layers with alternating masks over the two coordinates, separate scale and shift
 * networks with two hidden layers of 256 units (leaky ReLU), trained by maximum likelihood with Adam on
 * two-moons data with noise 0.05.
 *
 * Pictures (under the run's `sample_dir`): `samples_epoch<N>.png` with four panels (data, latent f(x),
 * prior samples z, model samples f^-1(z) of those z), `density_epoch<N>.png` (the learned density on a
 * grid), and at the end `training_curve.png` from `metrics.jsonl`.
 */
import * as tf from "@tensorflow/tfjs";
import { adam } from "../lib/runner/adam.ts";
import { readAndDispose } from "../lib/backend.ts";
import { choice, ConfigError, float, int } from "../lib/config.ts";
import { ArrayDataset, arraySplit, type VectorBatch } from "../lib/data/array_dataset.ts";
import { sampleToy, TOY_NAMES } from "../lib/data/toy2d.ts";
import {
  AffineCoupling,
  alternatingMask,
  couplingNet,
  Flow,
  FlowDensityModel,
  FlowSequential,
  StandardNormal,
} from "../lib/flows/mod.ts";
import { ACTIVATIONS } from "../lib/nn/mlp.ts";
import {
  densityPlot,
  gridPoints,
  panels,
  pointsRange,
  type Range,
  scatterPlot,
  trainingCurvePlot,
  writePng,
} from "../lib/plot/mod.ts";
import type { Rng } from "../lib/rng.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import { join } from "../lib/runner/run_dir.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";

const config = experimentConfig({
  toy: choice(TOY_NAMES, "moons", "2-D toy density to fit (lib/data/toy2d.ts)"),
  noise: float(0.05, "Std of the Gaussian noise of the toy data"),
  n_train: int(10000, "Training points"),
  n_val: int(2000, "Validation points"),
  n_test: int(2000, "Test points"),
  n_layers: int(6, "Affine coupling layers (masks alternate between the two coordinates)"),
  hidden: int(256, "Units in each hidden layer of the scale and shift networks"),
  hidden_layers: int(2, "Hidden layers of the scale and shift networks"),
  activation: choice(ACTIVATIONS, "leaky_relu", "Hidden nonlinearity of the scale and shift networks"),
  grid_size: int(150, "Grid points per axis of the density picture"),
}, { lr: 1e-3, epochs: 20, batch_size: 256, eval_batch_size: 1000, log_interval: 20, n_samples: 1000 });

type Cfg = { readonly [K in keyof typeof config]: (typeof config)[K]["default"] };

/** The RealNVP of the tutorial; all weights drawn from `rng`. */
export function buildRealNVP(cfg: Cfg, rng: Rng): Flow {
  for (const k of ["n_layers", "hidden", "hidden_layers"] as const) {
    if (!(cfg[k] >= (k === "hidden_layers" ? 0 : 1))) {
      throw new ConfigError(`${k} must be positive, got ${cfg[k]}`);
    }
  }
  const hidden = Array.from({ length: cfg.hidden_layers }, () => cfg.hidden);
  const layers = Array.from({ length: cfg.n_layers }, (_, i) =>
    new AffineCoupling(
      alternatingMask(2, i % 2 === 1),
      couplingNet(rng, { dim: 2, hidden, activation: cfg.activation }),
    ));
  return new Flow(new FlowSequential(layers), new StandardNormal([2]));
}

const LATENT: Range = { xMin: -4, xMax: 4, yMin: -4, yMax: 4 };

/** The first `n` points of a split. */
function head(data: ArrayDataset, split: "train" | "test", n: number): Float32Array {
  return data.splits[split].data.slice(0, 2 * Math.min(n, data.splits[split].shape[0]));
}

export const realnvpMoons: ExperimentSpec<typeof config, VectorBatch> = {
  name: "realnvp_moons",
  description:
    "RealNVP (6 affine couplings, 256-unit s/t nets) on two moons, with pictures (about 2 min on CPU)",
  config,
  data(cfg, ctx) {
    for (const k of ["n_train", "n_val", "n_test"] as const) {
      if (!(cfg[k] >= 1)) throw new ConfigError(`${k} must be at least 1, got ${cfg[k]}`);
    }
    const draw = (n: number) => arraySplit(sampleToy(cfg.toy, n, ctx.rng, { noise: cfg.noise }), 2);
    return Promise.resolve(
      new ArrayDataset({ train: draw(cfg.n_train), val: draw(cfg.n_val), test: draw(cfg.n_test) }),
    );
  },
  model: (cfg, _data, ctx) => new FlowDensityModel<VectorBatch>(buildRealNVP(cfg, ctx.rng)),
  optimizer: (cfg) => adam(cfg.lr),
  async sample(model, data, cfg, ctx, epoch) {
    const flow = (model as FlowDensityModel<VectorBatch>).flow;
    const xy = head(data as ArrayDataset, "test", cfg.n_samples);
    const dataRange = pointsRange(head(data as ArrayDataset, "train", 5000));
    const n = cfg.grid_size;
    const [latent, prior, samples, density] = await readAndDispose(tf.tidy(() => {
      const z = flow.base.sample(cfg.n_samples, ctx.rng);
      return [
        flow.forwardAndLogProb(tf.tensor2d(xy, [xy.length / 2, 2])).z,
        z,
        flow.transform.inverse(z).y,
        flow.logProb(tf.tensor2d(gridPoints(dataRange, n, n), [n * n, 2])).exp(),
      ];
    }));
    const four = panels([
      { title: "data x ~ p(x)", canvas: scatterPlot(xy, { range: dataRange }) },
      { title: "latent z = f(x)", canvas: scatterPlot(latent, { range: LATENT, color: [214, 39, 40] }) },
      { title: "prior z ~ N(0, I)", canvas: scatterPlot(prior, { range: LATENT, color: [44, 160, 44] }) },
      {
        title: "samples x = f^-1(z)",
        canvas: scatterPlot(samples, { range: dataRange, color: [255, 127, 14] }),
      },
    ], { perRow: 2, title: `${cfg.toy}, RealNVP, epoch ${epoch}` });
    const files = [
      join(ctx.sampleDir, `samples_epoch${epoch}.png`),
      join(ctx.sampleDir, `density_epoch${epoch}.png`),
    ];
    await writePng(files[0], four);
    await writePng(
      files[1],
      densityPlot(density, n, n, dataRange, { title: `learned density p(x), epoch ${epoch}` }),
    );
    return files;
  },
  async finish(_model, _data, _cfg, ctx) {
    const file = join(ctx.sampleDir, "training_curve.png");
    await writePng(file, await trainingCurvePlot(join(ctx.runDir, "metrics.jsonl"), "RealNVP on two moons"));
    ctx.log.info(`Training curve: ${file}`);
    return { training_curve: file };
  },
};
