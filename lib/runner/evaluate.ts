/**
 * Exact evaluation of a split: the summed log-likelihood in float64, reported as
 *
 *   nll           = -sum log p(x) / examples                (nats per example; positive)
 *   bpd           = -sum log p(x) / (dims * ln 2)            (bits per dimension, when batches give `dims`)
 *   nll_per_frame = -sum log p(x) / frames                   (nats per frame, when batches give `frames`)
 *
 * as in the SNF runner's `eval_epochs` evaluation (Keller et al. 2021).
 */
import * as tf from "@tensorflow/tfjs";
import type { Batch, Dataset, DensityModel, ParallelTrainer } from "./types.ts";

/** The metrics of one evaluated split. */
export interface EvalResult {
  readonly nll: number;
  readonly bpd?: number;
  readonly nll_per_frame?: number;
  /** Number of examples evaluated. */
  readonly n: number;
}

/** Evaluates `split` exactly with batches of `batchSize`, at most `maxExamples` examples. */
export async function evaluate<B extends Batch>(
  model: DensityModel<B>,
  data: Dataset<B>,
  split: "train" | "val" | "test",
  batchSize: number,
  maxExamples: number | null,
  parallel: ParallelTrainer<B> | null = null,
): Promise<EvalResult> {
  if (parallel && parallel.model !== model) {
    throw new Error("evaluate: the parallel trainer belongs to another model");
  }
  let total = 0, n = 0, dims = 0, frames = 0;
  let hasDims = true, hasFrames = true;
  for (const batch of data.eval(split, batchSize, maxExamples)) {
    try {
      if (parallel) total += await parallel.sumLogProb(batch);
      else {
        await model.prepare?.(false);
        const s = tf.tidy(() => tf.sum(model.logProb(batch)));
        total += (await s.data())[0];
        s.dispose();
      }
      n += batch.size;
      if (batch.dims === undefined) hasDims = false;
      else dims += batch.dims;
      if (batch.frames === undefined) hasFrames = false;
      else frames += batch.frames;
    } finally {
      batch.dispose();
    }
  }
  if (n === 0) throw new Error(`Cannot evaluate split "${split}": it has no examples`);
  const out: { -readonly [K in keyof EvalResult]: EvalResult[K] } = { nll: -total / n, n };
  if (hasDims && dims > 0) out.bpd = -total / (dims * Math.LN2);
  if (hasFrames && frames > 0) out.nll_per_frame = -total / frames;
  return out;
}
