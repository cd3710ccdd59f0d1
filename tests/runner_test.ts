/**
 * The Experiment runner on the wasm backend: warmup schedule, leak-free steps, exact evaluation,
 * resume equal to an uninterrupted run, divergence handling, timing and the run directory's files.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../lib/backend.ts";
import { resolveConfig } from "../lib/config.ts";
import { ArrayDataset, arraySplit, type VectorBatch } from "../lib/data/array_dataset.ts";
import { gaussian2d } from "../experiments/gaussian_2d.ts";
import { GaussianModel } from "../lib/models/gaussian.ts";
import { disposeModule } from "../lib/nn/module.ts";
import { Rng } from "../lib/rng.ts";
import { loadCheckpoint } from "../lib/runner/checkpoint.ts";
import { evaluate } from "../lib/runner/evaluate.ts";
import { Experiment } from "../lib/runner/experiment.ts";
import { Logger } from "../lib/runner/logger.ts";
import { ResumableRng } from "../lib/runner/run_rng.ts";
import { getLearningRate, setLearningRate, warmupLr } from "../lib/runner/schedule.ts";
import { EpochTimer } from "../lib/runner/timing.ts";
import { DivergenceError } from "../lib/runner/train_epoch.ts";
import { trainStep } from "../lib/runner/train_step.ts";
import type { ExperimentSpec } from "../lib/runner/types.ts";

await selectBackend("wasm");

const SMALL = { n_train: 120, n_val: 40, n_test: 40, batch_size: 25, lr: 0.05, seed: 3 };
const silent = () => new Logger({ err: () => {}, out: () => {}, tty: false });

function batchOf(data: Float32Array, d: number): VectorBatch {
  const x = tf.tensor2d(data, [data.length / d, d]);
  return { x, size: x.shape[0], dims: data.length, dispose: () => x.dispose() };
}

Deno.test("warmupLr rises linearly per batch from 0 to lr, then stays", () => {
  const got = Array.from({ length: 12 }, (_, k) => warmupLr(0.1, 2, k + 1, 5));
  const want = Array.from({ length: 12 }, (_, k) => 0.1 * Math.min(1, (k + 1) / 10));
  got.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-15, `step ${i + 1}: ${v} vs ${want[i]}`));
  assert.equal(warmupLr(0.1, 0, 1, 5), 0.1);
  assert.equal(warmupLr(0.1, 0.5, 2, 4), 0.1);
});

Deno.test("setLearningRate changes the step Adam and SGD take", () => {
  // A scalar with gradient 2: SGD moves it by lr * 2, Adam's first step by lr (m / sqrt(v) = 1).
  for (const [make, move] of [[() => tf.train.adam(1), 0.25], [() => tf.train.sgd(1), 0.5]] as const) {
    const opt = make();
    setLearningRate(opt, 0.25);
    assert.equal(getLearningRate(opt), 0.25);
    const v = tf.variable(tf.scalar(1));
    opt.minimize(() => tf.mul(2, v) as tf.Scalar, false, [v]);
    assert.ok(Math.abs(v.dataSync()[0] - (1 - move)) < 1e-5, `${opt.getClassName()}: ${v.dataSync()[0]}`);
    v.dispose();
    opt.dispose();
  }
});

Deno.test("trainStep frees every intermediate tensor, with and without clipping", () => {
  const rng = new Rng(0);
  const model = new GaussianModel(2), opt = tf.train.adam(0.01);
  const b = batchOf(rng.normals(64), 2);
  for (const clip of [null, 0.1]) {
    trainStep(model, opt, b, clip).dispose();
    const n = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) trainStep(model, opt, b, clip).dispose();
    assert.equal(tf.memory().numTensors, n, `clip ${clip}`);
  }
  b.dispose();
  disposeModule(model);
  opt.dispose();
});

Deno.test("grad_clip_norm bounds the global gradient norm of a step", () => {
  // With SGD at lr 1 the parameter change is the (clipped) gradient itself.
  const model = new GaussianModel(2), opt = tf.train.sgd(1);
  const before = model.parameters().map(([, v]) => [...v.dataSync()]);
  const b = batchOf(new Float32Array([30, -40, 50, 10]), 2);
  trainStep(model, opt, b, 0.5).dispose();
  let sq = 0;
  model.parameters().forEach(([, v], i) => v.dataSync().forEach((x, j) => (sq += (x - before[i][j]) ** 2)));
  assert.ok(Math.abs(Math.sqrt(sq) - 0.5) < 1e-4, `norm ${Math.sqrt(sq)}`);
  b.dispose();
  disposeModule(model);
  opt.dispose();
});

Deno.test("evaluate reports nats per example, bits per dimension and nats per frame", async () => {
  const rng = new Rng(1);
  const xs = rng.normals(2 * 30);
  const data = new ArrayDataset({
    train: arraySplit(xs, 2),
    val: arraySplit(xs, 2),
    test: arraySplit(xs, 2),
  });
  const model = new GaussianModel(2); // standard normal: NLL = |x|^2/2 + log(2 pi)
  let want = 0;
  for (const x of xs) want += x * x / 2;
  want = want / 30 + Math.log(2 * Math.PI);
  const r = await evaluate(model, data, "val", 7, null);
  assert.equal(r.n, 30);
  assert.ok(Math.abs(r.nll - want) < 1e-5);
  assert.ok(Math.abs(r.bpd! - want / (2 * Math.LN2)) < 1e-5);
  assert.equal(r.nll_per_frame, undefined);
  assert.equal((await evaluate(model, data, "test", 7, 10)).n, 10);
  const framed = {
    ...data,
    eval: function* () {
      for (const b of data.eval("val", 30, null)) yield { ...b, frames: 90 };
    },
  } as unknown as ArrayDataset;
  assert.ok(
    Math.abs((await evaluate(model, framed, "val", 30, null)).nll_per_frame! - want * 30 / 90) < 1e-5,
  );
  disposeModule(model);
});

Deno.test("EpochTimer leaves out the first and last batch", () => {
  const t = new EpochTimer();
  [[9, 10], [1, 10], [3, 10], [9, 5]].forEach(([s, n]) => t.add(s, n));
  const s = t.stats()!;
  assert.deepEqual([s.batch_mean_s, s.batch_std_s], [2, 1]);
  assert.ok(Math.abs(s.example_mean_s - 0.2) < 1e-12 && Math.abs(s.example_std_s - 0.1) < 1e-12);
  const short = new EpochTimer();
  short.add(1, 1);
  assert.equal(short.stats(), null);
});

Deno.test("ResumableRng.restore continues the stream in place", () => {
  const a = new ResumableRng(5);
  a.normal();
  const s = a.state();
  const want = [a.normal(), a.uniform(), ...a.permutation(5)];
  a.uniform();
  a.restore(s);
  assert.deepEqual([a.normal(), a.uniform(), ...a.permutation(5)], want);
  assert.deepEqual(new ResumableRng(5).state(), new Rng(5).state());
});

async function runGaussian(
  dir: string,
  over: Record<string, number | boolean>,
  resume: string | null = null,
) {
  const cfg = resolveConfig(gaussian2d.config, { ...SMALL, ...over });
  const log = silent();
  return await new Experiment(gaussian2d, cfg, { runDir: dir, resume, log, backend: null }).run();
}

const records = (dir: string) =>
  Deno.readTextFileSync(`${dir}/metrics.jsonl`).trimEnd().split("\n").map((l) => JSON.parse(l));

Deno.test("resume after k epochs gives the same weights and metrics as an uninterrupted run", async () => {
  const root = await Deno.makeTempDir();
  // 10 batches per epoch: at step 20 Adam's running beta2^t differs from the pow() its setWeights uses.
  const common = {
    batch_size: 12,
    warmup_epochs: 3,
    sample_epochs: 2,
    log_interval: 4,
    grad_clip_norm: 5,
    eval_train: true,
  };
  const n0 = tf.memory().numTensors;
  const straight = await runGaussian(`${root}/a`, { ...common, epochs: 5 });
  assert.equal(tf.memory().numTensors, n0, "a run disposes everything it allocates");
  await runGaussian(`${root}/b`, { ...common, epochs: 2 });
  // A process that died in epoch 3 after logging some of it: the resumed run redoes epoch 3 from the
  // epoch-2 checkpoint, and its metrics must not hold epoch 3 twice.
  const crashed = [{ kind: "train", epoch: 3, step: 24, batch: 4, loss: 9.9, lr: 0.1 }, {
    kind: "epoch",
    epoch: 3,
  }];
  for (const r of crashed) {
    Deno.writeTextFileSync(`${root}/b/metrics.jsonl`, JSON.stringify(r) + "\n", { append: true });
  }
  const resumed = await runGaussian(`${root}/b`, { ...common, epochs: 5 }, `${root}/b`);

  const drop = (
    { wall_s: _w, wall_s_this_process: _p, run_dir: _r, best_checkpoint: _b, ...rest }: Record<
      string,
      unknown
    >,
  ) => rest;
  assert.deepEqual(drop(resumed), drop(straight));
  // The resumed run's wall time counts the first process's too.
  const firstPart = (await loadCheckpoint(`${root}/b/best.ckpt`)).header.wall_s!;
  assert.ok(firstPart > 0 && (resumed.wall_s as number) > firstPart, `${resumed.wall_s} vs ${firstPart}`);
  assert.ok((resumed.wall_s as number) > (resumed.wall_s_this_process as number));
  const [a, b] = [await loadCheckpoint(`${root}/a/last.ckpt`), await loadCheckpoint(`${root}/b/last.ckpt`)];
  // Optimizer slot names carry tfjs's per-process variable ids; values, shapes and order must match.
  const values = (c: typeof a) =>
    [c.tensors.params, c.tensors.buffers, c.tensors.optimizer, c.tensors.optimizerExtra]
      .map((g) => g.map((t) => [t.shape, [...t.data]]));
  assert.deepEqual(values(b), values(a));
  assert.deepEqual(b.tensors.params.map((t) => t.name), ["mean", "log_diag", "lower"]);
  assert.deepEqual(b.header.rng, a.header.rng);
  assert.equal(b.header.step, 50);
  const strip = (rs: Record<string, unknown>[]) =>
    rs.filter((r) => r.kind === "train" || r.kind === "eval" || r.kind === "epoch");
  assert.deepEqual(strip(records(`${root}/b`)), strip(records(`${root}/a`)));
  assert.deepEqual(
    records(`${root}/b`).filter((r) => r.kind === "resume").map((r) => [r.epoch, r.dropped_records]),
    [[2, 2]],
  );
  // Samples are drawn from their own stream: identical files in both runs.
  assert.equal(
    Deno.readTextFileSync(`${root}/b/samples/samples_epoch4.csv`),
    Deno.readTextFileSync(`${root}/a/samples/samples_epoch4.csv`),
  );
  await Deno.remove(root, { recursive: true });
});

Deno.test("a run logs train records every log_interval steps, epochs, evals and timing", async () => {
  const dir = await Deno.makeTempDir();
  const s = await runGaussian(dir, { epochs: 2, log_interval: 3, log_timing: true, warmup_epochs: 1 });
  const rs = records(dir);
  const train = rs.filter((r) => r.kind === "train");
  assert.deepEqual(train.map((r) => r.step), [3, 6, 9]);
  const per = Math.ceil(SMALL.n_train / SMALL.batch_size);
  assert.ok(Math.abs(train[0].lr - warmupLr(SMALL.lr, 1, 3, per)) < 1e-12);
  assert.deepEqual(rs.filter((r) => r.kind === "timing").map((r) => r.epoch), [1, 2]);
  assert.deepEqual(rs.filter((r) => r.kind === "eval").map((r) => r.split).slice(0, 2), ["val", "test"]);
  assert.equal(rs.at(-1).kind, "summary");
  const summary = JSON.parse(Deno.readTextFileSync(`${dir}/summary.json`));
  assert.deepEqual(summary, JSON.parse(JSON.stringify(s)));
  assert.deepEqual([summary.early_stop, summary.stopped_epoch, summary.epochs], ["none", null, 2]);
  const cfg = JSON.parse(Deno.readTextFileSync(`${dir}/config.json`));
  assert.equal(cfg.config.n_train, SMALL.n_train);
  assert.equal(cfg.experiment, "gaussian_2d");
  const best = await loadCheckpoint(`${dir}/best.ckpt`);
  assert.equal(best.header.epoch, summary.best_epoch);
  assert.equal(best.header.best.val_nll, summary.val_nll);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a NaN loss stops the run naming epoch and batch, and keeps the best checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  let calls = 0;
  const per = Math.ceil(SMALL.n_train / SMALL.batch_size);
  const spec: ExperimentSpec<typeof gaussian2d.config, VectorBatch> = {
    ...gaussian2d,
    model: () => {
      const m = new GaussianModel(2);
      // Batch 3 of epoch 2 returns NaN.
      return Object.assign(m, {
        loss: (b: VectorBatch) => tf.mul(++calls === per + 3 ? NaN : -1, tf.mean(m.logProb(b))) as tf.Scalar,
      });
    },
  };
  const cfg = resolveConfig(gaussian2d.config, { ...SMALL, epochs: 3 });
  const n0 = tf.memory().numTensors;
  await assert.rejects(
    () => new Experiment(spec, cfg, { runDir: dir, resume: null, log: silent() }).run(),
    (e: Error) =>
      e instanceof DivergenceError &&
      /loss is NaN at epoch 2, batch 3 \(step \d+\); the best checkpoint ".*best\.ckpt" is kept/.test(
        e.message,
      ),
  );
  assert.equal(tf.memory().numTensors, n0, "a failed run disposes everything too");
  const best = await loadCheckpoint(`${dir}/best.ckpt`);
  assert.equal(best.header.epoch, 1);
  assert.ok(best.tensors.params.every((t) => t.data.every(Number.isFinite)));
  assert.equal((await loadCheckpoint(`${dir}/last.ckpt`)).header.epoch, 1);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("the last epoch is evaluated even when epochs is not a multiple of eval_epochs", async () => {
  const dir = await Deno.makeTempDir();
  const s = await runGaussian(dir, { epochs: 3, eval_epochs: 2 });
  const evals = records(dir).filter((r) => r.kind === "eval" && r.split === "val").map((r) => r.epoch);
  assert.deepEqual(evals, [2, 3]);
  assert.ok(s.best_epoch === 2 || s.best_epoch === 3);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a non-finite validation NLL never becomes the best checkpoint", async () => {
  const dir = await Deno.makeTempDir();
  let evalCalls = 0;
  const spec: ExperimentSpec<typeof gaussian2d.config, VectorBatch> = {
    ...gaussian2d,
    model: () => {
      const m = new GaussianModel(2);
      const logProb = m.logProb.bind(m);
      // Evaluation of epoch 1 (val, its first batches) returns NaN; training is untouched.
      return Object.assign(m, {
        loss: (b: VectorBatch) => tf.neg(tf.mean(logProb(b))) as tf.Scalar,
        logProb: (b: VectorBatch) => (++evalCalls <= 2 ? tf.mul(NaN, logProb(b)) : logProb(b)) as tf.Tensor1D,
      });
    },
  };
  const cfg = resolveConfig(gaussian2d.config, { ...SMALL, epochs: 2 });
  const warnings: string[] = [];
  const log = new Logger({ err: (s) => warnings.push(s), out: () => {}, tty: false, quiet: true });
  const s = await new Experiment(spec, cfg, { runDir: dir, resume: null, log }).run();
  assert.equal(s.best_epoch, 2);
  assert.ok(warnings.some((w) => /validation NLL is NaN at epoch 1/.test(w)), warnings.join(""));
  await Deno.remove(dir, { recursive: true });
});
