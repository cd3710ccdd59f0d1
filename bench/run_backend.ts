/**
 * The figures of one tfjs backend: for each variant (`cached`: ESN states computed once per data set;
 * `recompute`: the ESN runs in every step) a fresh model trains `warmup + steps` batches, then evaluates
 * them; the cached variant also gives the ESN encoding throughput, and its trained model is sampled from.
 * Scaling runs time the training step alone at other reservoir and batch sizes.
 *
 * tfjs variables live on the backend that made them, so the caller selects the backend first and every
 * model here is built (and disposed) on it.
 */
import * as tf from "@tensorflow/tfjs";
import type { Variant } from "./args.ts";
import { medianFramesPerSecond, medianMs, type Timings, totalFramesPerSecond } from "./data.ts";
import {
  benchDataset,
  buildBenchModel,
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

/** Figures of one variant, appended to `out`; the first variant's trained model is also sampled from. */
async function benchVariant(
  spec: BackendSpec,
  variant: Variant,
  out: Figure[],
  log: (msg: string) => void,
): Promise<void> {
  const emit = emitter(out, spec, variant);
  const data = benchDataset(spec);
  const model = buildBenchModel(spec.esnDim, spec.seed);
  try {
    if (variant === "cached") {
      const enc = timeEncoding(model, data, spec.esnDim);
      emit("esn_encode_frames_per_s", totalFramesPerSecond(enc), "frames/s", {
        note: "host-side sparse recurrence (backend-independent)",
      });
    }
    log(`  ${variant}: training ${spec.warmup} + ${spec.steps} steps`);
    const train = await timeTraining(model, data, spec);
    emitTraining(emit, train.timings);
    emit("peak_tensors", train.peak.tensors, "tensors");
    emit("peak_tensor_bytes", train.peak.bytes, "bytes");
    emit("rss_bytes", train.rss, "bytes");
    log(`  ${variant}: evaluation`);
    const ev = await timeEvaluation(model, data, spec);
    emit("eval_ms_per_batch", medianMs(ev), "ms");
    emit("eval_frames_per_s", medianFramesPerSecond(ev), "frames/s");
    if (variant === spec.variants[0] && spec.sampleReps > 0) {
      log(`  sampling ${spec.sampleReps} x ${spec.batch} sequences`);
      const lengths = data.splits.train.slice(0, spec.batch).map((s) => s.length / data.frameDim);
      const sm = await timeSampling(model, lengths, spec.sampleReps, spec.seed);
      emit("sample_frames_per_s", medianFramesPerSecond(sm), "frames/s", {
        note: `${lengths.length} sequences of up to ${Math.max(...lengths)} frames drawn together`,
      });
    }
  } finally {
    model.dispose();
  }
}

/** The main figures of the current backend (see the module doc). */
export async function benchBackend(spec: BackendSpec, log: (msg: string) => void): Promise<Figure[]> {
  const out: Figure[] = [];
  const before = tf.memory().numTensors;
  for (const variant of spec.variants) await benchVariant(spec, variant, out, log);
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
  for (const variant of spec.variants) {
    log(`  scaling ${scan}: esn_dim ${spec.esnDim}, batch ${spec.batch}, ${variant}`);
    const data = benchDataset(spec);
    const model = buildBenchModel(spec.esnDim, spec.seed);
    try {
      if (variant === "cached") timeEncoding(model, data, spec.esnDim);
      const train = await timeTraining(model, data, spec);
      emitTraining(emitter(out, spec, variant, scan), train.timings);
    } finally {
      model.dispose();
    }
  }
  return out;
}
