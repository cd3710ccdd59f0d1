/**
 * `snf_timescaling`: time per training step against the data dimension, for one fully connected or one
 * 3 x 3 convolutional layer on 1 x s x s Gaussian noise, trained with the self-normalized gradient
 * ("SNF") or the exact log-det gradient ("exact"), as the reference's `snf_timescaling.py` (Keller et al.
 * 2021, Fig. 4: exact steps grow as O(D^3), self-normalized ones as O(D^2)).
 *
 * Each (layer, gradient, size) trains `steps` batches of `batch_size` with the runner's own train step
 * (Adam, lr 1e-4), after `warmup_steps` untimed ones; the mean and std of the step time go to
 * `timescaling.csv`, `timescaling.md` and the plot `curves.png` (ms per step against D = s^2: this
 * experiment's curves, in the file every experiment's run directory has; it has no epochs to plot).
 */
import * as tf from "@tensorflow/tfjs";
import { adam } from "../lib/runner/adam.ts";
import { choice, ConfigError, int, str } from "../lib/config.ts";
import { ArrayDataset, arraySplit, type VectorBatch } from "../lib/data/array_dataset.ts";
import { type Bijector, hostTensorsOf } from "../lib/flows/bijector.ts";
import { ExactConv, ExactFC } from "../lib/flows/exact.ts";
import { Flow } from "../lib/flows/flow.ts";
import { StandardNormal } from "../lib/flows/normal.ts";
import { type SelfNormalizing, SelfNormFC, SelfNormFlowModel } from "../lib/flows/selfnorm.ts";
import { SelfNormConv } from "../lib/flows/selfnorm_conv.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { linePlot, writePng } from "../lib/plot/mod.ts";
import { Rng } from "../lib/rng.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import { join } from "../lib/runner/run_dir.ts";
import { meanStd } from "../lib/runner/timing.ts";
import { trainStep } from "../lib/runner/train_step.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";
import { PROFILES } from "./mnist_common.ts";

const PAPER_SIZES = [5, 10, 12, 14, 20, 24, 28, 32, 36, 40, 45, 50, 53, 55, 57, 60, 61, 62, 63];
const QUICK_SIZES = [4, 8, 12, 16, 20, 24, 28];

const config = experimentConfig({
  profile: choice(PROFILES, "quick", "paper: the reference's sides 5..63; quick: sides 4..28"),
  sizes: str("", "Comma-separated image sides s (D = s^2), overriding the profile's list"),
  layers: str("fc,conv", "Comma-separated layer kinds to time: fc, conv"),
  steps: int(10, "Timed training steps per configuration"),
  warmup_steps: int(2, "Untimed steps before timing (compilation, optimizer slots)"),
}, { lr: 1e-4, batch_size: 100, epochs: 1 });

type Cfg = { readonly [K in keyof typeof config]: (typeof config)[K]["default"] };

function sidesOf(cfg: Cfg): number[] {
  if (!cfg.sizes) return cfg.profile === "paper" ? PAPER_SIZES : QUICK_SIZES;
  const sides = cfg.sizes.split(",").map((s) => Number(s.trim()));
  if (sides.some((s) => !(Number.isInteger(s) && s >= 1))) {
    throw new ConfigError(`sizes must be positive integers separated by commas, got "${cfg.sizes}"`);
  }
  return sides;
}

function kindsOf(cfg: Cfg): ("fc" | "conv")[] {
  const kinds = cfg.layers.split(",").map((s) => s.trim());
  for (const k of kinds) {
    if (k !== "fc" && k !== "conv") throw new ConfigError(`layers must list fc and/or conv, got "${k}"`);
  }
  return kinds as ("fc" | "conv")[];
}

/** One layer on a standard normal; `snf` selects the self-normalized gradient and reconstruction loss. */
function timingModel(
  kind: "fc" | "conv",
  side: number,
  snf: boolean,
  rng: Rng,
): SelfNormFlowModel<VectorBatch> {
  const d = side * side;
  const geometry = { height: side, width: side, channels: 1, kernel: 3 };
  let layer: Bijector;
  if (kind === "fc") layer = snf ? new SelfNormFC(d, rng) : new ExactFC(d, rng);
  else layer = snf ? new SelfNormConv(geometry, rng) : new ExactConv(geometry, rng);
  const shape = kind === "fc" ? [d] : [side, side, 1];
  const flow = new Flow(kind === "fc" ? layer : reshaped(layer, shape), new StandardNormal(shape));
  return new SelfNormFlowModel(flow, snf ? [layer as SelfNormalizing] : []);
}

/** `layer` applied to `[B, D]` rows viewed as `shape`. */
function reshaped(layer: Bijector, shape: number[]): Bijector {
  return {
    forward: (x) => layer.forward(x.reshape([x.shape[0], ...shape])),
    inverse: (z) => layer.inverse(z),
    hostTensors: () => hostTensorsOf([layer]),
    parameters: () => layer.parameters(),
  };
}

interface Row {
  layer: string;
  gradient: string;
  side: number;
  dim: number;
  mean_ms: number;
  std_ms: number;
}

async function timeOne(cfg: Cfg, kind: "fc" | "conv", side: number, snf: boolean): Promise<Row> {
  const rng = new Rng(cfg.seed);
  const model = timingModel(kind, side, snf, rng);
  const opt = adam(cfg.lr, 0.9, 0.999);
  const d = side * side, b = cfg.batch_size;
  const times: number[] = [];
  try {
    for (let i = 0; i < cfg.warmup_steps + cfg.steps; i++) {
      const x = tf.tensor2d(rng.normals(b * d), [b, d]);
      const t0 = performance.now();
      await model.prepare(true);
      const loss = trainStep(model, opt, { x, size: b, dims: b * d, dispose: () => x.dispose() }, null);
      await loss.data();
      if (i >= cfg.warmup_steps) times.push(performance.now() - t0);
      loss.dispose();
      x.dispose();
    }
  } finally {
    opt.dispose();
    disposeModule(model);
  }
  const { mean, std } = meanStd(times);
  return { layer: kind, gradient: snf ? "SNF" : "exact", side, dim: d, mean_ms: mean, std_ms: std };
}

export const snfTimescaling: ExperimentSpec<typeof config, VectorBatch> = {
  name: "snf_timescaling",
  description:
    "Time per training step vs dimension, exact vs self-normalized FC and conv layers (table + PNG)",
  config,
  // The CLI calls run(); the builders describe one configuration (the first size, FC, SNF).
  data: (cfg) => {
    const d = sidesOf(cfg)[0] ** 2, rng = new Rng(cfg.seed);
    const split = (n: number) => arraySplit(rng.normals(n * d), d);
    return Promise.resolve(
      new ArrayDataset({ train: split(cfg.batch_size), val: split(10), test: split(10) }),
    );
  },
  model: (cfg) => timingModel("fc", sidesOf(cfg)[0], true, new Rng(cfg.seed)),
  optimizer: (cfg) => adam(cfg.lr, 0.9, 0.999),
  async run(cfg, opts) {
    if (!(cfg.steps >= 2 && cfg.warmup_steps >= 0)) {
      throw new ConfigError(`steps must be >= 2, got ${cfg.steps}`);
    }
    const rows: Row[] = [];
    for (const kind of kindsOf(cfg)) {
      for (const snf of [true, false]) {
        for (const side of sidesOf(cfg)) {
          const row = await timeOne(cfg, kind, side, snf);
          opts.log.metric("timing", { ...row });
          rows.push(row);
        }
      }
    }
    const csv = ["layer,gradient,side,dim,mean_ms,std_ms", ...rows.map((r) => Object.values(r).join(","))];
    const md = [
      "| layer | gradient | side | D | ms per step (mean +- std) |",
      "| --- | --- | ---: | ---: | ---: |",
      ...rows.map((r) =>
        `| ${r.layer} | ${r.gradient} | ${r.side} | ${r.dim} | ${r.mean_ms.toFixed(2)} +- ${
          r.std_ms.toFixed(2)
        } |`
      ),
    ];
    const files = ["timescaling.csv", "timescaling.md", "curves.png"].map((f) => join(opts.runDir, f));
    await Deno.writeTextFile(files[0], csv.join("\n") + "\n");
    await Deno.writeTextFile(files[1], md.join("\n") + "\n");
    const series = [...new Set(rows.map((r) => `${r.layer} ${r.gradient}`))].map((name) => {
      const mine = rows.filter((r) => `${r.layer} ${r.gradient}` === name);
      return { name, x: mine.map((r) => r.dim), y: mine.map((r) => r.mean_ms) };
    });
    await writePng(
      files[2],
      linePlot(series, {
        title: `ms per training step (batch ${cfg.batch_size})`,
        xLabel: "D",
        yLabel: "ms",
      }),
    );
    opts.log.info(md.join("\n"));
    return { table: files[1], csv: files[0], plot: files[2], rows: rows.length };
  },
};
