/**
 * Timing primitives of the bench, each doing what the runner does for the same work:
 *
 * - a training step is `trainEpoch`'s body: the batch is taken from the {@link SequenceDataset} (with the
 *   cached ESN states when a cache is attached), `trainStep(model, adam, batch, null)` runs, the loss is
 *   read back (which waits for the backend) and the batch is disposed; the clock covers all of it;
 * - an evaluation batch is `evaluate`'s body: `sum(logProb(batch))` in `tf.tidy`, read back;
 * - sampling is `model.sample(lengths, rng)` (autoregressive, all sequences of a batch together);
 * - ESN encoding is `attachStateCache` (the states of every sequence, computed once on the host).
 *
 * The model is the esn_flow_timit one: `dynamicModelConfig` defaults (dyn_esn_flow, 4 flow layers, hidden
 * 30, 2 hidden layers, Toeplitz, conn 10, spectral radius 0.8, leaking rate 0.5), Adam at lr 1e-4.
 */
import * as tf from "@tensorflow/tfjs";
import { adam } from "../lib/runner/adam.ts";
import { defineConfig, resolveConfig } from "../lib/config.ts";
import { SequenceDataset } from "../lib/data/sequences.ts";
import { attachStateCache, buildDynamicModel } from "../lib/dynamic/build.ts";
import {
  type DynamicModelConfig,
  dynamicModelConfig,
  dynamicTrainingDefaults,
} from "../lib/dynamic/config.ts";
import type { DynamicModel } from "../lib/dynamic/dynamic_flow.ts";
import { Rng } from "../lib/rng.ts";
import type { DataParallel } from "../lib/parallel/data_parallel.ts";
import { trainStep } from "../lib/runner/train_step.ts";
import { countGpuWork, type GpuCounts } from "../lib/webgpu/gpu_counters.ts";
import { batchIds, benchSequences, type Timings } from "./data.ts";
import { type PeakMemory, peakMemoryOf, rssBytes } from "./memory.ts";

/** TIMIT MFCC frames: 13 cepstra + log-energy with deltas and delta-deltas, as the peer. */
export const FRAME_DIM = 40;

/** The sizes of one measurement. */
export interface SizeSpec {
  readonly esnDim: number;
  readonly batch: number;
  readonly steps: number;
  readonly warmup: number;
  readonly seed: number;
}

/** The esn_flow_timit model config with the given reservoir size. */
export function benchConfig(esnDim: number): DynamicModelConfig {
  return resolveConfig(defineConfig(dynamicModelConfig), { esn_dim: esnDim });
}

/** A fresh model on the current backend: weights from `seed`, the reservoir from `esnSeed = seed`. */
export function buildBenchModel(esnDim: number, seed: number): DynamicModel {
  return buildDynamicModel(benchConfig(esnDim), FRAME_DIM, {
    rng: new Rng(`bench:model:${seed}`),
    esnSeed: seed,
  });
}

/** `warmup + steps` batches of TIMIT-like sequences (batch i holds sequences `i*B .. i*B + B - 1`). */
export function benchDataset(spec: SizeSpec): SequenceDataset {
  const seqs = benchSequences(
    (spec.warmup + spec.steps) * spec.batch,
    FRAME_DIM,
    new Rng(`bench:data:${spec.seed}`),
  );
  return new SequenceDataset({ train: seqs, val: [], test: [] }, FRAME_DIM);
}

/** Attaches the ESN state cache to `data` and times it: frames encoded and milliseconds. */
export function timeEncoding(model: DynamicModel, data: SequenceDataset, esnDim: number): Timings {
  const t0 = performance.now();
  const report = attachStateCache(model, data, benchConfig(esnDim));
  const ms = performance.now() - t0;
  if (!report?.every((r) => r.cached)) {
    throw new Error(`bench: the ESN state cache was not attached (report: ${JSON.stringify(report)})`);
  }
  return { ms: [ms], frames: [data.frameCount("train")] };
}

/** One runner-style training step on batch `i`; returns the real frames of the batch. */
export async function step(run: Run, opt: tf.Optimizer, i: number, b: number): Promise<number> {
  const batch = run.data.batch("train", batchIds(i, b));
  try {
    let value: number;
    if (run.parallel) value = await run.parallel.step(batch, opt, null);
    else {
      const loss = trainStep(run.model, opt, batch, null);
      value = (await loss.data())[0];
      loss.dispose();
    }
    if (!Number.isFinite(value)) throw new Error(`bench: training loss is ${value} at step ${i}`);
    return batch.frames;
  } finally {
    batch.dispose();
  }
}

/** A model and the data set it trains on (with or without the ESN state cache attached). */
export interface Run {
  readonly model: DynamicModel;
  readonly data: SequenceDataset;
  /** Data-parallel steps (the `parallel` variant), or none. */
  readonly parallel?: DataParallel | null;
}

/** What {@link timeTraining} measured for one run. */
export interface TrainResult {
  readonly timings: Timings;
  /** Largest resident set of the process seen after one of this run's steps. */
  readonly rss: number;
  /** Peak of live tensors during one extra (untimed, profiled) step. */
  readonly peak: PeakMemory;
}

/**
 * Step i of every run, in an order rotated each step: runs compared with each other (the variants) see
 * the same machine load, which on a shared machine varies more than the runs differ.
 */
async function interleaved(
  runs: readonly Run[],
  count: number,
  f: (run: Run, k: number, i: number) => Promise<void>,
) {
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < runs.length; j++) {
      const k = (i + j) % runs.length;
      await f(runs[k], k, i);
    }
  }
}

/**
 * `spec.warmup` untimed then `spec.steps` timed training steps of each run with Adam (lr 1e-4), the runs
 * interleaved, then one profiled step each for the tensor peak (which counts every live tensor, the other
 * runs' weights included: well under 1 MB at the default sizes). The models keep their trained weights.
 */
export async function timeTraining(runs: readonly Run[], spec: SizeSpec): Promise<TrainResult[]> {
  const opts = runs.map(() => adam(dynamicTrainingDefaults.lr));
  const ms = runs.map((): number[] => []), frames = runs.map((): number[] => []), rss = runs.map(() => 0);
  try {
    await interleaved(runs, spec.warmup + spec.steps, async (run, k, i) => {
      const t0 = performance.now();
      const n = await step(run, opts[k], i, spec.batch);
      const t = performance.now() - t0;
      rss[k] = Math.max(rss[k], rssBytes());
      if (i >= spec.warmup) {
        ms[k].push(t);
        frames[k].push(n);
      }
    });
    const out: TrainResult[] = [];
    for (const [k, run] of runs.entries()) {
      const peak = await peakMemoryOf(async () => {
        await step(run, opts[k], spec.warmup, spec.batch);
      });
      out.push({ timings: { ms: ms[k], frames: frames[k] }, rss: rss[k], peak });
    }
    return out;
  } finally {
    for (const o of opts) o.dispose();
  }
}

/** Times `sum(logProb(batch))` (no gradient) of each run on the timed batches (interleaved), after one untimed. */
export async function timeEvaluation(runs: readonly Run[], spec: SizeSpec): Promise<Timings[]> {
  const ms = runs.map((): number[] => []), frames = runs.map((): number[] => []);
  const first = Math.max(spec.warmup - 1, 0);
  await interleaved(runs, spec.warmup + spec.steps - first, async (run, k, j) => {
    const i = first + j;
    const t0 = performance.now();
    const n = await evalBatch(run, i, spec.batch);
    if (j > 0 || spec.warmup === 0) {
      ms[k].push(performance.now() - t0);
      frames[k].push(n);
    }
  });
  return ms.map((m, k) => ({ ms: m, frames: frames[k] }));
}

/** One runner-style evaluation of batch `i` (`sum(logProb)`, on all threads for `parallel`); returns its frames. */
export async function evalBatch(run: Run, i: number, b: number): Promise<number> {
  const batch = run.data.batch("train", batchIds(i, b));
  try {
    let value: number;
    if (run.parallel) value = await run.parallel.sumLogProb(batch);
    else {
      const s = tf.tidy(() => tf.sum(run.model.logProb(batch)));
      value = (await s.data())[0];
      s.dispose();
    }
    if (!Number.isFinite(value)) throw new Error(`bench: log-likelihood is ${value} at batch ${i}`);
    return batch.frames;
  } finally {
    batch.dispose();
  }
}

/**
 * Times `reps` autoregressive draws of sequences with the given lengths (after one short untimed draw);
 * frames are the requested real frames (sum of lengths).
 */
export async function timeSampling(
  model: DynamicModel,
  lengths: readonly number[],
  reps: number,
  seed: number,
): Promise<Timings> {
  const rng = new Rng(`bench:sample:${seed}`);
  await model.sample([2, 2], rng);
  const total = lengths.reduce((a, b) => a + b, 0);
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    const out = await model.sample(lengths, rng);
    ms.push(performance.now() - t0);
    if (out.length !== lengths.length) {
      throw new Error(`bench: sampled ${out.length} of ${lengths.length} sequences`);
    }
  }
  return { ms, frames: ms.map(() => total) };
}

/**
 * The WebGPU work of one training step (batch `warmup`, after the timed steps: pipelines compiled, the
 * optimizer's slots made) and of one evaluation batch of `run`, as `step` and `evalBatch` do them: compute
 * dispatches, queue submissions, and read-backs to the host (the loss or log-likelihood read is one).
 */
export async function countStepWork(
  run: Run,
  spec: SizeSpec,
): Promise<{ train: GpuCounts; eval: GpuCounts }> {
  const opt = adam(dynamicTrainingDefaults.lr);
  try {
    await step(run, opt, spec.warmup, spec.batch);
    const train = (await countGpuWork(() => step(run, opt, spec.warmup, spec.batch))).counts;
    await evalBatch(run, spec.warmup, spec.batch);
    const ev = (await countGpuWork(() => evalBatch(run, spec.warmup, spec.batch))).counts;
    return { train, eval: ev };
  } finally {
    opt.dispose();
  }
}
