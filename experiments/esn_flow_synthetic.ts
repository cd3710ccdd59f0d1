/**
 * `esn_flow_synthetic`: the dynamic models on sequences from known Gaussian-mixture HMMs, one HMM (and one
 * trained model) per class, as TIMIT trains one model per phone class.
 *
 * Each class draws its own random HMM (`lib/data/hmm.ts`) and variable-length sequences from it. The
 * experiment trains one model per class with the Experiment runner (run directory `class_<k>/`), reloads
 * each class's best checkpoint, and reports, per class and overall:
 *
 * - the model's test NLL per frame next to the true NLL per frame (the generating HMM's exact
 *   log-likelihood by the forward algorithm) and the gap between them (>= 0 up to sampling noise: no model
 *   beats the truth in expectation);
 * - maximum-likelihood classification of every test sequence of every class by the trained models, next
 *   to the Bayes classifier that uses the true HMMs (equal priors): the accuracy the models should approach;
 * - the true NLL per frame of the models' own samples, next to that of real data (sample quality).
 *
 * Resuming (`--resume <run dir>`): finished classes are skipped, an interrupted one continues from its
 * `last.ckpt`.
 */
import * as tf from "@tensorflow/tfjs";
import { type Config, ConfigError, float, int } from "../lib/config.ts";
import { type GmmHmm, gmmHmmLogProb, randomGmmHmm, sampleGmmHmm } from "../lib/data/hmm.ts";
import { type Sequence, type SequenceBatch, SequenceDataset } from "../lib/data/sequences.ts";
import { attachStateCache, buildDynamicModel } from "../lib/dynamic/build.ts";
import { dynamicModelConfig } from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { Rng } from "../lib/rng.ts";
import { loadCheckpoint, restoreCheckpoint } from "../lib/runner/checkpoint.ts";
import { experimentConfig, withDefaults } from "../lib/runner/common_config.ts";
import { Experiment } from "../lib/runner/experiment.ts";
import { exists, join, writeJsonAtomic } from "../lib/runner/run_dir.ts";
import type { ExperimentSpec, RunOptions } from "../lib/runner/types.ts";

const NAME = "esn_flow_synthetic";

const config = experimentConfig({
  ...withDefaults(dynamicModelConfig, {
    esn_dim: 64,
    hidden_layer_dim: 16,
    n_flow_layers: 2,
    n_components: 3,
    rnn_dim: 32,
    esn_cache_mb: 512,
  }),
  frame_dim: int(2, "Frame dimension D of the synthetic sequences (>= 2 for the flows)"),
  n_classes: int(3, "Number of classes, each with its own random HMM and its own trained model"),
  hmm_states: int(3, "Hidden states of each class's HMM"),
  hmm_mix: int(2, "Gaussian components per HMM state"),
  hmm_mean_scale: float(1.5, "Standard deviation of the HMM component means around 0"),
  hmm_self_loop: float(0.8, "Expected self-transition probability of the HMM states"),
  min_length: int(5, "Shortest sequence (frames)"),
  max_length: int(30, "Longest sequence (frames); lengths are uniform in [min_length, max_length]"),
  n_train: int(300, "Training sequences per class"),
  n_val: int(50, "Validation sequences per class"),
  n_test: int(100, "Test sequences per class"),
}, { lr: 3e-3, epochs: 100, batch_size: 32, eval_epochs: 10, log_interval: 100, n_samples: 20 });

type Cfg = Config<typeof config>;

/** One class: its true HMM and its data set. */
interface ClassData {
  readonly hmm: GmmHmm;
  readonly data: SequenceDataset;
}

function check(cfg: Cfg): void {
  const positive = [
    "frame_dim",
    "n_classes",
    "hmm_states",
    "hmm_mix",
    "min_length",
    "n_train",
    "n_val",
    "n_test",
  ];
  for (const k of positive) {
    const v = (cfg as Record<string, unknown>)[k] as number;
    if (!(v >= 1)) throw new ConfigError(`${k} must be at least 1, got ${v}`);
  }
  if (cfg.max_length < cfg.min_length) {
    throw new ConfigError(`max_length (${cfg.max_length}) must be >= min_length (${cfg.min_length})`);
  }
  if (cfg.model.includes("flow") && cfg.frame_dim < 2) {
    throw new ConfigError(`frame_dim must be >= 2 for the flow models, got ${cfg.frame_dim}`);
  }
}

/** The classes' HMMs and sequences, all drawn from generators seeded by `seed` alone. */
function makeClasses(cfg: Cfg): ClassData[] {
  return Array.from({ length: cfg.n_classes }, (_, k) => {
    const hmm = randomGmmHmm({
      numStates: cfg.hmm_states,
      numMix: cfg.hmm_mix,
      frameDim: cfg.frame_dim,
      meanScale: cfg.hmm_mean_scale,
      selfLoop: cfg.hmm_self_loop,
    }, new Rng(`${cfg.seed}:hmm:${k}`));
    const rng = new Rng(`${cfg.seed}:data:${k}`);
    const draw = (n: number): Sequence[] =>
      Array.from({ length: n }, () => {
        const len = cfg.min_length + rng.int(cfg.max_length - cfg.min_length + 1);
        return sampleGmmHmm(hmm, len, rng).x;
      });
    const data = new SequenceDataset({
      train: draw(cfg.n_train),
      val: draw(cfg.n_val),
      test: draw(cfg.n_test),
    }, cfg.frame_dim);
    return { hmm, data };
  });
}

function frames(seqs: readonly Sequence[], d: number): number {
  return seqs.reduce((s, q) => s + q.length / d, 0);
}

/** `-sum log p / frames` of `seqs` under the true HMM. */
function trueNllPerFrame(hmm: GmmHmm, seqs: readonly Sequence[]): number {
  return -seqs.reduce((s, q) => s + gmmHmmLogProb(hmm, q), 0) / frames(seqs, hmm.frameDim);
}

function buildModel(cfg: Cfg, rng: Rng): DynamicModel {
  return buildDynamicModel(cfg, cfg.frame_dim, { rng, esnSeed: cfg.seed });
}

/** Sample lengths for `n` sequences, uniform in [min_length, max_length]. */
function sampleLengths(cfg: Cfg, n: number, rng: Rng): number[] {
  return Array.from({ length: n }, () => cfg.min_length + rng.int(cfg.max_length - cfg.min_length + 1));
}

/** The single-model spec that trains class `k` (run by {@link Experiment} in `class_<k>/`). */
function classSpec(k: number, cls: ClassData): ExperimentSpec<typeof config, SequenceBatch> {
  return {
    name: NAME,
    description: `class ${k} of ${NAME}`,
    config,
    data: () => Promise.resolve(cls.data),
    model(cfg, data, ctx) {
      const model = buildModel(cfg, ctx.rng);
      const report = attachStateCache(model, data as SequenceDataset, cfg);
      for (const r of report ?? []) {
        ctx.log.info(
          `class ${k}: ESN states of ${r.split} (${r.frames} frames, ${
            (r.bytes / 2 ** 20).toFixed(1)
          } MiB) ` +
            (r.cached ? `cached in ${r.seconds.toFixed(2)} s` : "over esn_cache_mb: encoded per batch"),
        );
      }
      return model;
    },
    optimizer: (cfg) => tf.train.adam(cfg.lr),
    async sample(model, _data, cfg, ctx, epoch) {
      const xs = await (model as DynamicModel).sample(sampleLengths(cfg, cfg.n_samples, ctx.rng), ctx.rng);
      const file = join(ctx.sampleDir, `samples_epoch${epoch}.json`);
      await Deno.writeTextFile(file, JSON.stringify(xs.map((x) => Array.from(x))) + "\n");
      return [file];
    },
    async finish(model, _data, cfg, ctx) {
      const xs = await (model as DynamicModel).sample(
        sampleLengths(cfg, 200, ctx.rng),
        new Rng(`${cfg.seed}:finish:${k}`),
      );
      return {
        true_test_nll_per_frame: trueNllPerFrame(cls.hmm, cls.data.splits.test),
        samples_true_nll_per_frame: trueNllPerFrame(cls.hmm, xs),
      };
    },
  };
}

/** Trains (or resumes, or skips when finished) class `k`; returns its runner summary. */
async function trainClass(
  k: number,
  cls: ClassData,
  cfg: Cfg,
  opts: RunOptions,
): Promise<Record<string, unknown>> {
  const dir = join(opts.runDir, `class_${k}`);
  const done = join(dir, "summary.json");
  if (opts.resume !== null && exists(done)) {
    opts.log.info(`class ${k}: finished in an earlier run, skipped`);
    return JSON.parse(await Deno.readTextFile(done));
  }
  const resume = opts.resume !== null && exists(join(dir, "last.ckpt")) ? dir : null;
  // Every class writes its own best checkpoint in its own directory.
  const sub = { ...cfg, checkpoint_path: null, name: `${cfg.name || NAME}_class${k}` } as Cfg;
  return await new Experiment(classSpec(k, cls), sub, { runDir: dir, resume, log: opts.log }).run();
}

/** The trained model of class `k`: its best checkpoint (else its last) restored into a fresh model. */
async function reload(k: number, cfg: Cfg, runDir: string): Promise<DynamicModel> {
  const best = join(runDir, `class_${k}`, "best.ckpt");
  const path = exists(best) ? best : join(runDir, `class_${k}`, "last.ckpt");
  const model = buildModel(cfg, new Rng(0));
  const optimizer = tf.train.adam(cfg.lr);
  try {
    await restoreCheckpoint(await loadCheckpoint(path), NAME, model, optimizer);
  } finally {
    optimizer.dispose();
  }
  return model;
}

/** `log p(sequence)` of every sequence of `data`'s test split under `model`. */
async function testLogProbs(
  model: DynamicModel,
  data: SequenceDataset,
  batchSize: number,
): Promise<Float64Array> {
  const out: number[] = [];
  for (const batch of data.eval("test", batchSize, null)) {
    try {
      const lp = tf.tidy(() => model.logProb(batch));
      out.push(...(await lp.data()));
      lp.dispose();
    } finally {
      batch.dispose();
    }
  }
  return Float64Array.from(out);
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

async function run(cfg: Cfg, opts: RunOptions): Promise<Record<string, unknown>> {
  check(cfg);
  const classes = makeClasses(cfg);
  const summaries: Record<string, unknown>[] = [];
  for (const [k, cls] of classes.entries()) summaries.push(await trainClass(k, cls, cfg, opts));

  // Every test sequence of every class, scored by every class model and every true HMM.
  const all = new SequenceDataset(
    { train: [], val: [], test: classes.flatMap((c) => c.data.splits.test) },
    cfg.frame_dim,
  );
  const labels = classes.flatMap((c, k) => c.data.splits.test.map(() => k));
  const modelScores: Float64Array[] = [];
  for (let k = 0; k < classes.length; k++) {
    const model = await reload(k, cfg, opts.runDir);
    try {
      attachStateCache(model, all, cfg); // computed for the first model, reused by the others (same ESN)
      modelScores.push(await testLogProbs(model, all, cfg.eval_batch_size ?? cfg.batch_size));
    } finally {
      model.dispose();
    }
  }
  const trueScores = classes.map((c) => Float64Array.from(all.splits.test, (q) => gmmHmmLogProb(c.hmm, q)));
  let modelRight = 0, trueRight = 0;
  labels.forEach((label, i) => {
    if (argmax(modelScores.map((s) => s[i])) === label) modelRight++;
    if (argmax(trueScores.map((s) => s[i])) === label) trueRight++;
  });

  const perClass = classes.map((c, k) => {
    const seqs = c.data.splits.test, n = frames(seqs, cfg.frame_dim);
    const first = labels.indexOf(k);
    let model = 0, truth = 0;
    for (let i = first; i < first + seqs.length; i++) {
      model -= modelScores[k][i];
      truth -= trueScores[k][i];
    }
    const rec = {
      class: k,
      frames: n,
      test_nll_per_frame: model / n,
      true_nll_per_frame: truth / n,
      gap_per_frame: (model - truth) / n,
      samples_true_nll_per_frame: summaries[k].samples_true_nll_per_frame ?? null,
      best_epoch: summaries[k].best_epoch ?? null,
    };
    opts.log.metric("class", rec);
    return rec;
  });
  const totalFrames = perClass.reduce((s, r) => s + r.frames, 0);
  const avg = (key: "test_nll_per_frame" | "true_nll_per_frame") =>
    perClass.reduce((s, r) => s + r[key] * r.frames, 0) / totalFrames;
  const result = {
    model: cfg.model,
    test_nll_per_frame: avg("test_nll_per_frame"),
    true_nll_per_frame: avg("true_nll_per_frame"),
    gap_per_frame: avg("test_nll_per_frame") - avg("true_nll_per_frame"),
    accuracy: modelRight / labels.length,
    true_accuracy: trueRight / labels.length,
    n_test: labels.length,
    classes: perClass,
  };
  opts.log.info(
    `${cfg.model}: test NLL/frame ${result.test_nll_per_frame.toFixed(4)} vs true ${
      result.true_nll_per_frame.toFixed(4)
    } ` +
      `(gap ${result.gap_per_frame.toFixed(4)}); accuracy ${
        (100 * result.accuracy).toFixed(1)
      }% vs true models ` +
      `${(100 * result.true_accuracy).toFixed(1)}% on ${labels.length} sequences`,
  );
  await writeJsonAtomic(join(opts.runDir, "summary.json"), { experiment: NAME, config: cfg, ...result });
  return result;
}

/**
 * The `esn_flow_synthetic` experiment (see the module doc). The CLI calls {@link run}; `data`, `model` and
 * `optimizer` describe the model of one class (class 0), e.g. for a benchmark or a single-model run.
 */
export const esnFlowSynthetic: ExperimentSpec<typeof config, SequenceBatch> = {
  name: NAME,
  description:
    "Dynamic flows on Gaussian-mixture-HMM sequences: NLL vs the true NLL, ML classification vs true",
  config,
  data(cfg) {
    check(cfg);
    return Promise.resolve(makeClasses(cfg)[0].data);
  },
  model: (cfg, _data, ctx) => buildModel(cfg, ctx.rng),
  optimizer: (cfg) => tf.train.adam(cfg.lr),
  run,
};
