/**
 * `gaussian_2d`: a full-covariance Gaussian fitted by maximum likelihood to correlated 2-D Gaussian data.
 *
 * A sanity check of the whole runner that finishes in seconds: the model family contains the data's
 * distribution, so its test NLL must approach the closed-form optimum. The summary reports, next to the
 * model's `test_nll`: `ref_entropy` = 0.5 log det(2 pi e Sigma), the expected NLL under the generating
 * Gaussian; `ref_true_test_nll`, the test split's NLL under the generating Gaussian; `ref_mle_train_nll`,
 * the sample entropy of the training split (the lowest training NLL any Gaussian reaches); and
 * `ref_mle_test_nll`, the test NLL of that closed-form maximum-likelihood fit.
 */
import * as tf from "@tensorflow/tfjs";
import { adam } from "../lib/runner/adam.ts";
import { choice, ConfigError, float, int } from "../lib/config.ts";
import { ArrayDataset, arraySplit, type VectorBatch } from "../lib/data/array_dataset.ts";
import { GaussianModel, gaussianNll, momentCholesky } from "../lib/models/gaussian.ts";
import type { Rng } from "../lib/rng.ts";
import { experimentConfig } from "../lib/runner/common_config.ts";
import { join } from "../lib/runner/run_dir.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";

const config = experimentConfig({
  n_train: int(1000, "Training examples"),
  n_val: int(500, "Validation examples"),
  n_test: int(500, "Test examples"),
  mean_x: float(1, "Mean of the first coordinate of the generating Gaussian"),
  mean_y: float(-1, "Mean of the second coordinate"),
  std_x: float(2, "Standard deviation of the first coordinate"),
  std_y: float(0.5, "Standard deviation of the second coordinate"),
  corr: float(0.9, "Correlation of the two coordinates, in (-1, 1)"),
  optimizer: choice(["adam", "sgd"] as const, "adam", "Optimizer (sgd: plain gradient descent)"),
}, { lr: 0.05, epochs: 30, batch_size: 100, warmup_epochs: 1, log_interval: 20, n_samples: 500 });

type Cfg = { readonly [K in keyof typeof config]: (typeof config)[K]["default"] };

/** The generating Gaussian's mean and lower Cholesky factor of its covariance (row-major 2 x 2). */
function truth(cfg: Cfg): { mean: number[]; chol: number[] } {
  if (!(cfg.std_x > 0 && cfg.std_y > 0)) {
    throw new ConfigError(`std_x and std_y must be positive, got ${cfg.std_x} and ${cfg.std_y}`);
  }
  if (!(Math.abs(cfg.corr) < 1)) throw new ConfigError(`corr must lie in (-1, 1), got ${cfg.corr}`);
  const { std_x: a, std_y: b, corr: r } = cfg;
  return { mean: [cfg.mean_x, cfg.mean_y], chol: [a, 0, r * b, b * Math.sqrt(1 - r * r)] };
}

/** `n` points `mean + L eps`, `eps` standard normal from `rng`. */
function draw(n: number, t: { mean: number[]; chol: number[] }, rng: Rng): Float32Array {
  const out = new Float32Array(2 * n);
  const [l00, , l10, l11] = t.chol;
  for (let i = 0; i < n; i++) {
    const e0 = rng.normal(), e1 = rng.normal();
    out[2 * i] = t.mean[0] + l00 * e0;
    out[2 * i + 1] = t.mean[1] + l10 * e0 + l11 * e1;
  }
  return out;
}

/** The `gaussian_2d` experiment (see the module doc). */
export const gaussian2d: ExperimentSpec<typeof config, VectorBatch> = {
  name: "gaussian_2d",
  description:
    "Full-covariance Gaussian fitted to correlated 2-D Gaussian data (seconds; runner sanity check)",
  config,
  data(cfg, ctx) {
    const t = truth(cfg);
    for (const k of ["n_train", "n_val", "n_test"] as const) {
      if (!(cfg[k] >= 1)) throw new ConfigError(`${k} must be at least 1, got ${cfg[k]}`);
    }
    return Promise.resolve(
      new ArrayDataset({
        train: arraySplit(draw(cfg.n_train, t, ctx.rng), 2),
        val: arraySplit(draw(cfg.n_val, t, ctx.rng), 2),
        test: arraySplit(draw(cfg.n_test, t, ctx.rng), 2),
      }),
    );
  },
  model: () => new GaussianModel(2),
  optimizer: (cfg) => (cfg.optimizer === "sgd" ? tf.train.sgd(cfg.lr) : adam(cfg.lr)),
  async sample(model, _data, cfg, ctx, epoch) {
    const xs = await (model as GaussianModel).sample(cfg.n_samples, ctx.rng);
    const lines = ["x,y"];
    for (let i = 0; i < cfg.n_samples; i++) lines.push(`${xs[2 * i]},${xs[2 * i + 1]}`);
    const file = join(ctx.sampleDir, `samples_epoch${epoch}.csv`);
    await Deno.writeTextFile(file, lines.join("\n") + "\n");
    return [file];
  },
  finish(_model, data, cfg, ctx) {
    const t = truth(cfg);
    const { train, test } = (data as ArrayDataset).splits;
    const fit = momentCholesky(train.data, 2);
    const ref = {
      ref_entropy: 1 + Math.log(2 * Math.PI) + Math.log(t.chol[0] * t.chol[3]),
      ref_true_test_nll: gaussianNll(test.data, t.mean, t.chol),
      ref_mle_train_nll: gaussianNll(train.data, fit.mean, fit.chol),
      ref_mle_test_nll: gaussianNll(test.data, fit.mean, fit.chol),
    };
    ctx.log.info(
      `Closed-form reference: test NLL ${ref.ref_true_test_nll.toFixed(4)} under the generating Gaussian, ` +
        `${ref.ref_mle_test_nll.toFixed(4)} under the maximum-likelihood fit (entropy ${
          ref.ref_entropy.toFixed(4)
        })`,
    );
    return Promise.resolve(ref);
  },
};
