/**
 * The contracts between an experiment and the {@link Experiment} runner.
 *
 * An experiment file exports an {@link ExperimentSpec}: name, description, a frozen config schema and
 * builders for data, model and optimizer. The runner does everything else: learning-rate warmup, training,
 * exact evaluation, sampling, checkpoints, resume and logging.
 */
import type * as tf from "@tensorflow/tfjs";
import type { BackendInfo } from "../backend.ts";
import type { Config, ConfigSchema } from "../config.ts";
import type { Module } from "../nn/module.ts";
import type { AdamSlots } from "../webgpu/esn_flow_device.ts";
import type { Rng } from "../rng.ts";
import type { Logger } from "./logger.ts";

/** One mini-batch. The runner only needs its size; the model knows its contents. */
export interface Batch {
  /** Number of examples (images, points, sequences) in the batch. */
  readonly size: number;
  /** Number of scalar data dimensions in the batch (for bits per dimension); omit where meaningless. */
  readonly dims?: number;
  /** Number of frames (sequence data only), for nats per frame. */
  readonly frames?: number;
  /** Frees the batch's tensors. */
  dispose(): void;
}

/** Train/validation/test splits that hand out batches. */
export interface Dataset<B extends Batch = Batch> {
  /** Number of training examples. */
  readonly numTrain: number;
  /** Shuffled training batches for one epoch; all randomness from `rng`. */
  train(batchSize: number, rng: Rng): Iterable<B>;
  /** Evaluation batches of a split, in a fixed order, at most `maxExamples` examples (null: all). */
  eval(split: "train" | "val" | "test", batchSize: number, maxExamples: number | null): Iterable<B>;
  /** Frees cached tensors. */
  dispose?(): void;
}

/** A density model trained by the runner. */
export interface DensityModel<B extends Batch = Batch> extends Module {
  /** Exact log-likelihood of each example of the batch, in nats, shape `[batch.size]`. */
  logProb(batch: B): tf.Tensor1D;
  /**
   * The training loss (scalar) for one batch, to be minimised. Defaults to `-mean(logProb(batch))`.
   * Models whose training objective differs from the exact likelihood (self-normalizing flows) override it.
   */
  loss?(batch: B): tf.Scalar;
  /**
   * Reads back, asynchronously, the values that the next training loss (`training`) or the next
   * `logProb` or sampling (`!training`) reads on the host: the weights of host LU log-determinants, a
   * data-dependent-init flag (`lib/host_read.ts`). The runner awaits it before every training step,
   * evaluation batch and sampling; backends without synchronous read-back (WebGPU) need it. Absent: the
   * model reads nothing on the host.
   */
  prepare?(training: boolean): Promise<void>;
  /**
   * The batch's training step in a few fused device kernels, where the model has them for the current
   * backend (the dynamic flow on WebGPU); null or absent elsewhere, and the runner differentiates
   * {@link loss} (or the mean log-likelihood) with tfjs. The step's loss is that same loss.
   */
  deviceStep?(batch: B): DeviceStep | null;
}

/** A training step on the device ({@link DensityModel.deviceStep}); gradients in `parameters()` order. */
export interface DeviceStep {
  /** The loss and every parameter's gradient (fresh tensors the caller disposes). */
  gradients(): { loss: tf.Scalar; grads: tf.Tensor[] };
  /** The whole Adam step, the update included; returns the loss (before the update). */
  adam(slots: AdamSlots, gradClipNorm: number | null): tf.Scalar;
}

/**
 * Training steps spread over several threads (data-parallel), made by an experiment whose model supports
 * it ({@link ExperimentSpec.parallelTrainer}); `step` does what `trainStep` does and returns the loss.
 */
export interface ParallelTrainer<B extends Batch = Batch> {
  /** The model it trains (its weights are the ones the threads copy). */
  readonly model: DensityModel<B>;
  step(batch: B, optimizer: tf.Optimizer, gradClipNorm: number | null): Promise<number>;
  /** `sum(logProb(batch))`, computed on all the threads (the runner's evaluation uses it). */
  sumLogProb(batch: B): Promise<number>;
  /** Stops the extra threads. */
  close(): void;
}

/** What an experiment's hooks receive from the runner. */
export interface RunContext {
  /** The run directory (config.json, metrics.jsonl, summary.json, checkpoints, samples). */
  readonly runDir: string;
  /** Where samples and pictures go (`sample_dir`, resolved under the run directory). */
  readonly sampleDir: string;
  readonly rng: Rng;
  readonly log: Logger;
}

/** A named experiment: the unit of the registry. */
export interface ExperimentSpec<S extends ConfigSchema = ConfigSchema, B extends Batch = Batch> {
  readonly name: string;
  /** One line, shown by `--list`. */
  readonly description: string;
  /** Frozen defaults with docs; every key can be overridden on the command line. */
  readonly config: S;
  data(cfg: Config<S>, ctx: RunContext): Promise<Dataset<B>>;
  /**
   * A trainer of the model on `threads` threads (config `train_threads`), for experiments whose model
   * supports it (the dynamic flows: `lib/parallel/data_parallel.ts`). Declared here, by the experiment,
   * so that models never import the threading layer above them.
   */
  parallelTrainer?(model: DensityModel<B>, threads: number): Promise<ParallelTrainer<B>>;
  model(cfg: Config<S>, data: Dataset<B>, ctx: RunContext): DensityModel<B>;
  optimizer(cfg: Config<S>): tf.Optimizer;
  /** Writes samples/pictures for `epoch` under `ctx.sampleDir`; returns the files written. */
  sample?(
    model: DensityModel<B>,
    data: Dataset<B>,
    cfg: Config<S>,
    ctx: RunContext,
    epoch: number,
  ): Promise<string[]>;
  /**
   * Called once after training (e.g. a training-curve plot, extra reports). Fields of a returned object
   * are added to the run's summary (e.g. a closed-form reference NLL next to the model's).
   */
  finish?(
    model: DensityModel<B>,
    data: Dataset<B>,
    cfg: Config<S>,
    ctx: RunContext,
  ): Promise<void | Record<string, unknown>>;
  /**
   * Replaces the single-model run entirely (e.g. one model per class). When present, the CLI calls it
   * instead of the {@link Experiment} runner; it may use the runner itself for each sub-model.
   */
  run?(cfg: Config<S>, ctx: RunOptions): Promise<Record<string, unknown>>;
  /**
   * Checks what the schema cannot (lists in string keys, keys that only make sense together) and throws a
   * `ConfigError` (exit 2). The CLI calls it before it creates or writes anything in the run directory.
   */
  check?(cfg: Config<S>, explicitKeys: ReadonlySet<string>): void;
}

/** Options of one run that are not experiment config (they come from CLI flags). */
export interface RunOptions {
  readonly runDir: string;
  readonly resume: string | null;
  readonly log: Logger;
  /**
   * Config keys the user gave explicitly (on this command line, or on the command line of the run being
   * resumed). Profiles that replace defaults leave these alone. Absent: unknown.
   */
  readonly explicitKeys?: ReadonlySet<string>;
  /** The backend the CLI selected, recorded in the config and summary of every sub-run. */
  readonly backend?: BackendInfo | null;
}
