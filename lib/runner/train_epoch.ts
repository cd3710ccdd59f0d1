/**
 * One training epoch: shuffled batches from the dataset, per-batch warmup learning rate
 * ({@link warmupLr}), one {@link trainStep} each, `log_interval` train records, a progress bar, optional
 * timing statistics, and a hard stop on a NaN or infinite loss.
 */
import type * as tf from "@tensorflow/tfjs";
import { type Logger, Progress } from "./logger.ts";
import type { Rng } from "../rng.ts";
import type { CommonConfig } from "./common_config.ts";
import { setLearningRate, warmupLr } from "./schedule.ts";
import { EpochTimer } from "./timing.ts";
import { trainStep } from "./train_step.ts";
import type { Batch, Dataset, DensityModel, ParallelTrainer } from "./types.ts";
import { exists } from "./run_dir.ts";

/** Raised when the training loss stops being finite; the CLI exits with code 1. */
export class DivergenceError extends Error {
  override name = "DivergenceError";
}

/** What {@link trainEpoch} needs. */
export interface EpochArgs<B extends Batch> {
  readonly model: DensityModel<B>;
  readonly optimizer: tf.Optimizer;
  readonly data: Dataset<B>;
  readonly cfg: CommonConfig;
  readonly rng: Rng;
  readonly log: Logger;
  /** 1-based epoch number. */
  readonly epoch: number;
  /** Steps completed before this epoch. */
  readonly step: number;
  /** Named in the divergence error (whether it exists or not). */
  readonly bestPath: string;
  /** Runs the steps on several threads when given (config `train_threads`). */
  readonly parallel?: ParallelTrainer<B> | null;
}

/** Trains one epoch; returns the global step count after it. */
export async function trainEpoch<B extends Batch>(a: EpochArgs<B>): Promise<number> {
  const { cfg, log, epoch } = a;
  const perEpoch = Math.ceil(a.data.numTrain / cfg.batch_size);
  const progress = new Progress(log, `epoch ${epoch}/${cfg.epochs}`, perEpoch);
  const timer = new EpochTimer();
  let step = a.step, sum = 0, count = 0, lr = NaN;
  const it = a.data.train(cfg.batch_size, a.rng)[Symbol.iterator]();
  for (let b = 1;; b++) {
    const t0 = performance.now();
    const next = it.next();
    if (next.done) break;
    const batch = next.value;
    step++;
    const want = warmupLr(cfg.lr, cfg.warmup_epochs, step, perEpoch);
    if (want !== lr) setLearningRate(a.optimizer, lr = want);
    let loss: number;
    try {
      if (a.parallel) loss = await a.parallel.step(batch, a.optimizer, cfg.grad_clip_norm);
      else {
        await a.model.prepare?.(true);
        const t = trainStep(a.model, a.optimizer, batch, cfg.grad_clip_norm);
        loss = (await t.data())[0];
        t.dispose();
      }
    } finally {
      batch.dispose();
    }
    if (!Number.isFinite(loss)) {
      progress.done();
      const kept = exists(a.bestPath)
        ? `the best checkpoint "${a.bestPath}" is kept`
        : "no checkpoint was written";
      throw new DivergenceError(
        `Training diverged: loss is ${loss} at epoch ${epoch}, batch ${b} (step ${step}); ${kept}`,
      );
    }
    timer.add((performance.now() - t0) / 1000, batch.size);
    sum += loss * batch.size;
    count += batch.size;
    if (cfg.log_interval > 0 && step % cfg.log_interval === 0) {
      log.metric("train", { epoch, step, batch: b, loss, lr });
    }
    progress.tick(`loss ${loss.toFixed(4)}`);
  }
  progress.done();
  log.metric("epoch", { epoch, step, train_loss: count ? sum / count : null, lr });
  const stats = cfg.log_timing ? timer.stats() : null;
  if (stats) log.metric("timing", { epoch, ...stats });
  return step;
}
