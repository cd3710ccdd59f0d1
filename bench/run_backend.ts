/**
 * The figures of one tfjs backend: each variant (`cached`: ESN states computed once per data set;
 * `recompute`: the ESN runs in every step) gets a fresh model and data set; the models train
 * `warmup + steps` batches with their steps interleaved (so both see the same machine load), then
 * evaluate the same batches. Attaching the cache gives the ESN encoding throughput, and the first
 * variant's trained model is sampled from. Scaling runs time the training step alone at other sizes.
 *
 * tfjs variables live on the backend that made them, so the caller selects the backend first and every
 * model here is built (and disposed) on it.
 */
import * as tf from "@tensorflow/tfjs";
import { DataParallel } from "../lib/parallel/data_parallel.ts";
import type { Variant } from "./args.ts";
import { medianFramesPerSecond, medianMs, type Timings, totalFramesPerSecond } from "./data.ts";
import {
  benchDataset,
  buildBenchModel,
  countStepWork,
  type Run,
  type SizeSpec,
  timeEncoding,
  timeEvaluation,
  timeSampling,
  timeTraining,
} from "./measure.ts";
import type { Figure } from "./report.ts";

export interface BackendSpec extends SizeSpec {
  readonly backend: string;
  readonly variants: readonly Variant[];
  readonly sampleReps: number;
}

type Emit = (figure: string, value: number, unit: string, extra?: Partial<Figure>) => void;

function emitter(out: Figure[], spec: BackendSpec, variant: string, scan?: "esn_dim" | "batch"): Emit {
  return (figure, value, unit, extra = {}) =>
    out.push({
      bench: "echoflow",
      backend: spec.backend,
      figure,
      value,
      unit,
      variant,
      esn_dim: spec.esnDim,
      batch: spec.batch,
      ...(scan ? { scan } : {}),
      ...extra,
    });
}

function emitTraining(emit: Emit, t: Timings): void {
  emit("train_ms_per_step", medianMs(t), "ms");
  emit("train_frames_per_s", medianFramesPerSecond(t), "frames/s");
  emit("train_frames_per_s_total", totalFramesPerSecond(t), "frames/s");
}

/**
 * Fresh data set and model per variant; `cached` and `parallel` ones get the state cache (timed for
 * `cached`: ESN encoding), `parallel` ones 2 training threads.
 */
async function prepare(
  spec: BackendSpec,
  variants: readonly Variant[],
  emit?: (v: Variant) => Emit,
): Promise<Run[]> {
  const runs: Run[] = [];
  try {
    for (const variant of variants) {
      const run = { data: benchDataset(spec), model: buildBenchModel(spec.esnDim, spec.seed) };
      runs.push(run);
      if (variant !== "recompute") {
        const enc = timeEncoding(run.model, run.data, spec.esnDim);
        if (variant === "cached") {
          emit?.(variant)("esn_encode_frames_per_s", totalFramesPerSecond(enc), "frames/s", {
            note: "host-side sparse recurrence (backend-independent)",
          });
        }
      }
      if (variant === "parallel") {
        runs[runs.length - 1] = { ...run, parallel: await DataParallel.start(run.model, 2) };
      }
    }
    return runs;
  } catch (e) {
    release(runs);
    throw e;
  }
}

/** Stops the runs' training threads and frees their models. */
function release(runs: readonly Run[]): void {
  for (const r of runs) {
    r.parallel?.close();
    r.model.dispose();
  }
}

/** The main figures of the current backend (see the module doc). */
export async function benchBackend(spec: BackendSpec, log: (msg: string) => void): Promise<Figure[]> {
  const out: Figure[] = [];
  const before = tf.memory().numTensors;
  const emits = new Map(spec.variants.map((v) => [v, emitter(out, spec, v)]));
  const runs = await prepare(spec, spec.variants, (v) => emits.get(v)!);
  try {
    log(`  training ${spec.warmup} + ${spec.steps} steps (${spec.variants.join(", ")} interleaved)`);
    const train = await timeTraining(runs, spec);
    log(`  evaluation`);
    const ev = await timeEvaluation(runs, spec);
    spec.variants.forEach((v, k) => {
      const emit = emits.get(v)!;
      emitTraining(emit, train[k].timings);
      emit("peak_tensors", train[k].peak.tensors, "tensors");
      emit("peak_tensor_bytes", train[k].peak.bytes, "bytes");
      emit("rss_bytes", train[k].rss, "bytes", { note: "whole process" });
      emit("eval_ms_per_batch", medianMs(ev[k]), "ms");
      emit("eval_frames_per_s", medianFramesPerSecond(ev[k]), "frames/s");
      emit("eval_frames_per_s_total", totalFramesPerSecond(ev[k]), "frames/s");
    });
    if (spec.backend === "webgpu") {
      log(`  WebGPU work of one training step and one evaluation batch`);
      for (const [k, v] of spec.variants.entries()) {
        const { train: t, eval: e } = await countStepWork(runs[k], spec);
        const emit = emits.get(v)!;
        emit("webgpu_dispatches_per_train_step", t.dispatches, "dispatches");
        emit("webgpu_readbacks_per_train_step", t.readbacks, "readbacks", { note: "the loss read is one" });
        emit("webgpu_submits_per_train_step", t.submits, "submits");
        emit("webgpu_dispatches_per_eval_batch", e.dispatches, "dispatches");
        emit("webgpu_readbacks_per_eval_batch", e.readbacks, "readbacks", { note: "the sum read is one" });
      }
    }
    if (spec.sampleReps > 0) {
      log(`  sampling ${spec.sampleReps} x ${spec.batch} sequences`);
      const { data, model } = runs[0];
      const lengths = data.splits.train.slice(0, spec.batch).map((s) => s.length / data.frameDim);
      const sm = await timeSampling(model, lengths, spec.sampleReps, spec.seed);
      emits.get(spec.variants[0])!("sample_frames_per_s", medianFramesPerSecond(sm), "frames/s", {
        note: `${lengths.length} sequences of up to ${Math.max(...lengths)} frames drawn together`,
      });
    }
  } finally {
    release(runs);
  }
  const leaked = tf.memory().numTensors - before;
  if (leaked !== 0) log(`  warning: ${leaked} tensors left alive on ${spec.backend} after the bench`);
  return out;
}

/** Training-step figures at one size, tagged with the swept dimension. */
export async function benchScalingPoint(
  spec: BackendSpec,
  scan: "esn_dim" | "batch",
  log: (msg: string) => void,
): Promise<Figure[]> {
  const out: Figure[] = [];
  log(`  scaling ${scan}: esn_dim ${spec.esnDim}, batch ${spec.batch} (${spec.variants.join(", ")})`);
  const runs = await prepare(spec, spec.variants);
  try {
    const train = await timeTraining(runs, spec);
    spec.variants.forEach((v, k) => emitTraining(emitter(out, spec, v, scan), train[k].timings));
  } finally {
    release(runs);
  }
  return out;
}
