/**
 * `toydensity`: a deep stack of 2 x 2 self-normalizing FC layers with smooth leaky ReLUs on a 2-D toy
 * density (Keller et al. 2021, Fig. 3; the reference's `snf/experiments/toydensity.py`: 100 SelfNormFC
 * layers, SLR(0.3) between them, 5,000 points, Adam lr 1e-3, batch 100, 6,000 epochs).
 *
 * Pictures (under `sample_dir`), each sample epoch: `density_epoch<N>.png` with three panels: data
 * histogram-like scatter, the learned density exp(log p) on a grid (exact evaluation), and model samples
 * (inverse by R, the reference's sampling). `--profile quick` uses 10 layers and 2,000 points.
 */
import * as tf from "@tensorflow/tfjs";
import { adam } from "../lib/runner/adam.ts";
import { readAndDispose } from "../lib/backend.ts";
import { choice, ConfigError, int } from "../lib/config.ts";
import { ArrayDataset, arraySplit, type VectorBatch } from "../lib/data/array_dataset.ts";
import { sampleToy, TOY_NAMES } from "../lib/data/toy2d.ts";
import type { Bijector } from "../lib/flows/bijector.ts";
import { SmoothLeakyRelu } from "../lib/flows/activations.ts";
import { Flow } from "../lib/flows/flow.ts";
import { StandardNormal } from "../lib/flows/normal.ts";
import { SelfNormFC, SelfNormFlowModel } from "../lib/flows/selfnorm.ts";
import { FlowSequential } from "../lib/flows/sequential.ts";
import { densityPlot, gridPoints, panels, pointsRange, scatterPlot, writePng } from "../lib/plot/mod.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import { join } from "../lib/runner/run_dir.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { PROFILES, snfKeys, snfOptions } from "./mnist_common.ts";

const config = experimentConfig({
  ...snfKeys,
  profile: choice(
    PROFILES,
    "paper",
    "paper: num_layers and n_train as given; quick: 10 layers, 2,000 points",
  ),
  toy: choice(TOY_NAMES, "moons", "2-D toy density (lib/data/toy2d.ts)"),
  num_layers: int(100, "SelfNormFC layers (2 x 2), with SLR(0.3) between them"),
  n_train: int(5000, "Training points (the reference's dataset size)"),
  n_val: int(1000, "Validation points"),
  n_test: int(1000, "Test points"),
  grid_size: int(100, "Grid points per axis of the density picture"),
}, { lr: 1e-3, batch_size: 100, epochs: 100, sample_epochs: 10, log_interval: 100, n_samples: 2000 });

type Cfg = { readonly [K in keyof typeof config]: (typeof config)[K]["default"] };

const layersOf = (cfg: Cfg) => (cfg.profile === "quick" ? 10 : cfg.num_layers);

export const toydensity: ExperimentSpec<typeof config, VectorBatch> = {
  name: "toydensity",
  description: "100 self-normalizing 2x2 FC layers + SLR on a 2-D toy density, with density plots",
  config,
  data(cfg, ctx) {
    for (const k of ["n_train", "n_val", "n_test", "num_layers"] as const) {
      if (!(cfg[k] >= 1)) throw new ConfigError(`${k} must be at least 1, got ${cfg[k]}`);
    }
    const draw = (n: number) => arraySplit(sampleToy(cfg.toy, n, ctx.rng), 2);
    const nTrain = cfg.profile === "quick" ? Math.min(2000, cfg.n_train) : cfg.n_train;
    return Promise.resolve(
      new ArrayDataset({ train: draw(nTrain), val: draw(cfg.n_val), test: draw(cfg.n_test) }),
    );
  },
  model(cfg, _data, ctx) {
    const layers: Bijector[] = [], selfNorm: SelfNormFC[] = [];
    for (let l = 0; l < layersOf(cfg); l++) {
      const fc = new SelfNormFC(2, ctx.rng, snfOptions(cfg));
      layers.push(fc);
      selfNorm.push(fc);
      if (l + 1 < layersOf(cfg)) layers.push(new SmoothLeakyRelu({ alpha: 0.3 }));
    }
    return new SelfNormFlowModel<VectorBatch>(
      new Flow(new FlowSequential(layers), new StandardNormal([2])),
      selfNorm,
    );
  },
  optimizer: (cfg) => adam(cfg.lr, 0.9, 0.999),
  async sample(model, data, cfg, ctx, epoch) {
    const m = model as SelfNormFlowModel<VectorBatch>;
    const train = (data as ArrayDataset).splits.train.data;
    const range = pointsRange(train);
    const n = cfg.grid_size;
    const [samples, density] = await readAndDispose([
      m.sample(cfg.n_samples, ctx.rng, cfg.modified_grad),
      tf.tidy(() => m.flow.logProb(tf.tensor2d(gridPoints(range, n, n), [n * n, 2])).exp()),
    ]);
    const page = panels([
      { title: "data", canvas: scatterPlot(train.slice(0, 2 * cfg.n_samples), { range }) },
      { title: "learned density p(x)", canvas: densityPlot(density, n, n, range) },
      { title: "samples", canvas: scatterPlot(samples, { range, color: [255, 127, 14] }) },
    ], { title: `${cfg.toy}, ${layersOf(cfg)}-layer SNF, epoch ${epoch}` });
    const file = join(ctx.sampleDir, `density_epoch${epoch}.png`);
    await writePng(file, page);
    return [file];
  },
};
