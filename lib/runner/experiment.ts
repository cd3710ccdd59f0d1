/**
 * The Experiment runner, after the Self-Normalizing Flows runner (Keller et al. 2021,
 * `snf/train/experiment.py`): build data, model and optimizer from an {@link ExperimentSpec}; train with
 * per-batch linear learning-rate warmup and optional global-norm gradient clipping; every `eval_epochs`
 * evaluate the exact likelihood on validation (and train), and when validation improves evaluate test
 * and write the best checkpoint; sample every `sample_epochs` and at the end; write `last.ckpt` after
 * every epoch so `--resume` continues from the next one with the same result as an uninterrupted run.
 * With `early_stop` an {@link EarlyStop} monitor, fed the validation NLL at every evaluation and stored in
 * every checkpoint, ends the run after the epoch at which it fires (a resumed run stops at the same epoch;
 * resuming a stopped run trains nothing more).
 *
 * The run directory gets `config.json`, `metrics.jsonl` (every metric record; appended on resume),
 * `summary.json`, the checkpoints, `sample_dir` and `curves.png` (NLL and learning rate against epoch,
 * redrawn from `metrics.jsonl` after every evaluation: `lib/plot/run_curves.ts`).
 */
import type * as tf from "@tensorflow/tfjs";
import type { BackendInfo } from "../backend.ts";
import { type Config, configChanges, ConfigError, type ConfigSchema } from "../config.ts";
import { disposeModule } from "../nn/module.ts";
import { writeRunCurves } from "../plot/run_curves.ts";
import { Rng } from "../rng.ts";
import {
  type Checkpoint,
  CheckpointError,
  checkpointPathOf,
  LAST_CHECKPOINT,
  loadCheckpoint,
  restoreCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
import type { CommonConfig } from "./common_config.ts";
import { checkState, EarlyStop } from "./early_stop.ts";
import { type EvalResult, evaluate } from "./evaluate.ts";
import { appendJsonl, dirname, exists, join, pruneJsonl, writeJsonAtomic } from "./run_dir.ts";
import { acquireRunLock, LOCK_FILE, removeStaleTemporaries, type RunLock } from "./run_lock.ts";
import { ResumableRng } from "./run_rng.ts";
import { trainEpoch } from "./train_epoch.ts";
import type {
  Batch,
  Dataset,
  DensityModel,
  ExperimentSpec,
  ParallelTrainer,
  RunContext,
  RunOptions,
} from "./types.ts";

/** The keys every experiment schema has (see common_config.ts). */
export type { CommonConfig } from "./common_config.ts";

/** Run options plus the backend the CLI selected (recorded in config.json and the summary). */
export interface ExperimentOptions extends RunOptions {
  readonly backend?: BackendInfo | null;
  /** The checkpoint `resume` points at, when the caller has already loaded it (saves a second read). */
  readonly checkpoint?: Checkpoint | null;
  /**
   * Start over in a run directory that holds a run: its config, metrics, summary, checkpoints and samples
   * are deleted first (once the directory is locked for this process).
   */
  readonly fresh?: boolean;
  /**
   * The run directory's lock, when the caller holds it already (e.g. a per-class job that claimed the class
   * by taking its lock); the run then neither takes nor releases it.
   */
  readonly lock?: RunLock;
}

type Best = Record<string, number | null>;

/** The curves picture in the run directory. */
const CURVES = "curves.png";

/** Prefixes the metrics of `r` with `prefix_` (`val_nll`, `test_bpd`, ...). */
function prefixed(prefix: string, r: EvalResult): Best {
  const out: Best = {};
  for (const [k, v] of Object.entries(r)) if (k !== "n") out[`${prefix}_${k}`] = v;
  return out;
}

/**
 * One training run of an {@link ExperimentSpec} with a resolved config; {@link Experiment.run} does
 * everything the module doc lists and returns the summary.
 */
export class Experiment<S extends ConfigSchema = ConfigSchema, B extends Batch = Batch> {
  readonly cfg: Config<S>;
  readonly common: CommonConfig;
  readonly runDir: string;
  readonly sampleDir: string;
  /** Where the best checkpoint goes: `checkpoint_path`, else `<run dir>/best.ckpt`. */
  readonly bestPath: string;
  readonly lastPath: string;
  /** The running experiment's data-parallel trainer (config `train_threads`), used by evaluation too. */
  #parallel: ParallelTrainer<B> | null = null;
  #stopRecording: (() => void) | null = null;
  /** The early-stopping monitor of the running experiment (stored with every checkpoint). */
  #monitor: EarlyStop | null = null;

  constructor(readonly spec: ExperimentSpec<S, B>, cfg: Config<S>, readonly opts: ExperimentOptions) {
    const need = ["seed", "lr", "epochs", "batch_size", "warmup_epochs", "eval_epochs", "sample_dir"];
    const missing = need.filter((k) => !(k in cfg));
    if (missing.length) {
      throw new Error(`Experiment "${spec.name}": config lacks the common keys ${missing.join(", ")}`);
    }
    this.cfg = cfg;
    this.common = cfg as unknown as CommonConfig;
    this.runDir = opts.runDir;
    const sd = this.common.sample_dir;
    this.sampleDir = sd.startsWith("/") ? sd : join(this.runDir, sd);
    this.bestPath = this.common.checkpoint_path ?? join(this.runDir, "best.ckpt");
    this.lastPath = join(this.runDir, LAST_CHECKPOINT);
  }

  /**
   * Runs the experiment to the end and returns the summary (also written to summary.json). The run
   * directory is locked for this process throughout (`run_lock.ts`), and temporaries left there by writers
   * that died are removed first.
   */
  async run(): Promise<Record<string, unknown>> {
    const t0 = performance.now();
    const { log } = this.opts;
    Deno.mkdirSync(this.runDir, { recursive: true });
    const held = this.opts.lock;
    if (held && held.path !== join(this.runDir, LOCK_FILE)) {
      throw new Error(
        `Experiment: the lock given (${held.path}) is not that of the run directory ${this.runDir}`,
      );
    }
    const lock = held ?? acquireRunLock(this.runDir, (m) => log.warn(`${this.runDir}: ${m}`));
    try {
      if (this.opts.fresh) {
        const files = ["config.json", "metrics.jsonl", "summary.json", LAST_CHECKPOINT, "best.ckpt", CURVES];
        // Only what lies in the run directory: a sample_dir or checkpoint_path elsewhere is the user's.
        const inside = [this.bestPath, this.sampleDir].filter((p) => p.startsWith(`${this.runDir}/`));
        for (const f of [...files.map((f) => join(this.runDir, f)), ...inside]) {
          if (exists(f)) Deno.removeSync(f, { recursive: true });
        }
      }
      for (const dir of new Set([this.runDir, dirname(this.bestPath)])) {
        for (const f of removeStaleTemporaries(dir)) {
          log.warn(`removed ${join(dir, f)}, left by a writer that died`);
        }
      }
      return await this.#run(t0);
    } finally {
      if (!held) lock.release();
    }
  }

  async #run(t0: number): Promise<Record<string, unknown>> {
    const { log } = this.opts;
    const c = this.common;
    const ckpt = this.opts.checkpoint ??
      (this.opts.resume ? await loadCheckpoint(checkpointPathOf(this.opts.resume)) : null);
    this.#t0 = t0;
    this.#wallBefore = ckpt?.header.wall_s ?? 0;
    const rng = new ResumableRng(c.seed);
    const ctx: RunContext = { runDir: this.runDir, sampleDir: this.sampleDir, rng, log };
    const data = await this.spec.data(this.cfg, ctx);
    let model: DensityModel<B> | null = null;
    let optimizer: tf.Optimizer | null = null;
    try {
      model = this.spec.model(this.cfg, data, ctx);
      optimizer = this.spec.optimizer(this.cfg);
      let epoch = 0, step = 0;
      let best: Best = { best_epoch: null };
      // The checkpoint is restored (and so checked against this model and optimizer) before anything in
      // the run directory changes: a refused resume leaves the run as it was.
      if (ckpt) await restoreCheckpoint(ckpt, this.spec.name, model as DensityModel, optimizer);
      const metricsPath = join(this.runDir, "metrics.jsonl");
      // Records of epochs after the checkpoint (a run stopped mid-epoch) are redone below: drop the old ones.
      const stale = ckpt
        ? await pruneJsonl(
          metricsPath,
          (r) => r.kind !== "resume" && typeof r.epoch === "number" && r.epoch > ckpt.header.epoch,
        )
        : 0;
      this.#stopRecording = log.onRecord((r) => appendJsonl(metricsPath, r));
      for (const m of ckpt ? configChanges(ckpt.header.config, this.cfg, "the checkpoint") : []) log.warn(m);
      const monitor = this.#monitor = this.#monitorFor(ckpt);
      /** The epoch after which early stopping ended the run (null: it runs all `epochs`). */
      let stoppedEpoch: number | null = null;
      if (ckpt) {
        rng.restore(ckpt.header.rng);
        ({ epoch, step } = ckpt.header);
        best = { ...ckpt.header.best };
        log.info(`Resuming ${this.spec.name} from "${ckpt.path}" after epoch ${epoch} (step ${step})`);
        log.metric("resume", { from: ckpt.path, epoch, step, dropped_records: stale });
        if (monitor.stopped) {
          stoppedEpoch = epoch;
          // Under the checkpoint's own patience it may not have fired yet (patience lowered on resume).
          const before = ckpt.header.config.early_stop_patience;
          if (typeof before === "number" && ckpt.header.early_stop!.count >= before) {
            log.info(`The run had stopped early at epoch ${epoch} (${monitor.reason()}); no epochs to train`);
          } else this.#stopEarly(epoch);
        }
      }
      // After the restore: the worker threads copy the restored weights and reservoir.
      if (c.train_threads > 1) {
        if (!this.spec.parallelTrainer) {
          throw new ConfigError(
            `train_threads ${c.train_threads}: the model of ${this.spec.name} trains on one thread only ` +
              `(the dynamic flows can use more)`,
          );
        }
        this.#parallel = await this.spec.parallelTrainer(model, c.train_threads);
        log.info(`Training on ${c.train_threads} threads (data-parallel)`);
      }
      await this.#writeConfig(ckpt);

      let lastSampled = -1;
      for (epoch++; epoch <= c.epochs && stoppedEpoch === null; epoch++) {
        step = await trainEpoch({
          model,
          optimizer,
          data,
          cfg: c,
          rng,
          log,
          epoch,
          step,
          bestPath: this.bestPath,
          parallel: this.#parallel,
        });
        // The last epoch is always evaluated, so it can become the best checkpoint.
        if (epoch % c.eval_epochs === 0 || epoch === c.epochs) {
          best = await this.#evaluate(model, optimizer, data, epoch, step, best, rng);
          // Logged before last.ckpt: a process that dies in between redoes this epoch, dropping the record.
          if (monitor.stopped) stoppedEpoch = this.#stopEarly(epoch);
          await this.#writeCurves();
        }
        if (c.sample_epochs !== null && epoch % c.sample_epochs === 0) {
          await this.#sample(model, data, epoch);
          lastSampled = epoch;
        }
        await this.#save(this.lastPath, model, optimizer, epoch, step, best, rng);
      }
      const done = stoppedEpoch ?? Math.max(c.epochs, ckpt?.header.epoch ?? 0);
      if (lastSampled !== done) await this.#sample(model, data, done);
      const extra = (await this.spec.finish?.(model, data, this.cfg, ctx)) ?? {};
      const summary = {
        experiment: this.spec.name,
        name: c.name || this.spec.name,
        ...best,
        epochs: done,
        early_stop: c.early_stop,
        stopped_epoch: stoppedEpoch,
        steps: step,
        wall_s: this.#wall(),
        wall_s_this_process: (performance.now() - t0) / 1000,
        backend: this.opts.backend?.backend ?? null,
        adapter: this.opts.backend?.adapter ?? null,
        run_dir: this.runDir,
        best_checkpoint: best.best_epoch !== null && exists(this.bestPath) ? this.bestPath : null,
        ...extra,
      };
      log.metric("summary", summary);
      await writeJsonAtomic(join(this.runDir, "summary.json"), summary);
      return summary;
    } finally {
      this.#parallel?.close();
      this.#parallel = null;
      this.#stopRecording?.();
      this.#stopRecording = null;
      this.#monitor = null;
      if (model) disposeModule(model);
      optimizer?.dispose();
      data.dispose?.();
    }
  }

  async #writeConfig(ckpt: Checkpoint | null): Promise<void> {
    await writeJsonAtomic(join(this.runDir, "config.json"), {
      experiment: this.spec.name,
      config: this.cfg,
      backend: this.opts.backend?.backend ?? null,
      adapter: this.opts.backend?.adapter ?? null,
      resumed_from: ckpt?.path ?? null,
      created: new Date().toISOString(),
    });
  }

  async #evaluate(
    model: DensityModel<B>,
    optimizer: tf.Optimizer,
    data: Dataset<B>,
    epoch: number,
    step: number,
    best: Best,
    rng: Rng,
  ): Promise<Best> {
    const c = this.common, log = this.opts.log;
    const bs = c.eval_batch_size ?? c.batch_size;
    if (c.eval_train) {
      log.metric("eval", {
        split: "train",
        epoch,
        step,
        ...(await evaluate(model, data, "train", bs, c.max_eval_ex, this.#parallel)),
      });
    }
    const val = await evaluate(model, data, "val", bs, c.max_eval_ex, this.#parallel);
    log.metric("eval", { split: "val", epoch, step, ...val });
    // Before best.ckpt is written, so that a run resumed from it continues the monitor after this epoch.
    this.#monitor!.update(epoch, val.nll);
    if (!Number.isFinite(val.nll)) {
      log.warn(`validation NLL is ${val.nll} at epoch ${epoch}: not a candidate for the best checkpoint`);
      return best;
    }
    if (best.val_nll != null && !(val.nll < best.val_nll)) return best;
    const test = await evaluate(model, data, "test", bs, c.max_eval_ex, this.#parallel);
    log.metric("eval", { split: "test", epoch, step, ...test });
    const next = { best_epoch: epoch, ...prefixed("val", val), ...prefixed("test", test) };
    await this.#save(this.bestPath, model, optimizer, epoch, step, next, rng);
    log.info(`New best validation NLL ${val.nll.toFixed(4)} at epoch ${epoch}; saved "${this.bestPath}"`);
    return next;
  }

  /**
   * The early-stopping monitor of a run: fresh, or the checkpoint's when it has one of the same rule
   * (changed patience and tol then apply to the restored state).
   */
  #monitorFor(ckpt: Checkpoint | null): EarlyStop {
    const c = this.common, log = this.opts.log;
    const opts = { rule: c.early_stop, patience: c.early_stop_patience, tol: c.early_stop_tol };
    if (!ckpt) return new EarlyStop(opts);
    const saved = ckpt.header.early_stop;
    if (saved === undefined) {
      if (opts.rule !== "none") {
        log.warn(
          `"${ckpt.path}" has no early-stopping state (written before it existed); starting a fresh one`,
        );
      }
      return new EarlyStop(opts);
    }
    const problem = checkState(saved);
    if (problem) throw new CheckpointError(ckpt.path, `early-stopping state ${problem}`);
    if (saved.rule !== opts.rule) {
      log.warn(
        `early_stop is "${opts.rule}", the checkpoint's monitor is "${saved.rule}": ` +
          `early stopping starts afresh after epoch ${ckpt.header.epoch}`,
      );
      return new EarlyStop(opts);
    }
    return new EarlyStop(opts, saved);
  }

  /** Redraws `curves.png` from `metrics.jsonl`; a picture that cannot be drawn is a warning, not a failure. */
  async #writeCurves(): Promise<void> {
    const base = this.runDir.replace(/\/+$/, "").split("/").pop();
    const title = `${this.common.name || this.spec.name} (${base}): NLL and learning rate`;
    try {
      await writeRunCurves(join(this.runDir, "metrics.jsonl"), join(this.runDir, CURVES), { title });
    } catch (e) {
      this.opts.log.warn(`${CURVES} not updated: ${e instanceof Error ? e.message : e}`);
    }
  }

  /** Logs that early stopping ends the run after `epoch`; returns `epoch`. */
  #stopEarly(epoch: number): number {
    const rule = this.common.early_stop, reason = this.#monitor!.reason();
    this.opts.log.metric("early_stop", { epoch, rule, reason });
    this.opts.log.info(`Early stopping (${rule}) after epoch ${epoch}: ${reason}`);
    return epoch;
  }

  async #sample(model: DensityModel<B>, data: Dataset<B>, epoch: number): Promise<void> {
    if (!this.spec.sample) return;
    Deno.mkdirSync(this.sampleDir, { recursive: true });
    // A stream of its own, so how often samples are drawn never changes the training stream.
    const rng = new Rng(`${this.common.seed}:sample:${epoch}`);
    const ctx: RunContext = { runDir: this.runDir, sampleDir: this.sampleDir, rng, log: this.opts.log };
    await model.prepare?.(false);
    const files = await this.spec.sample(model, data, this.cfg, ctx, epoch);
    this.opts.log.metric("samples", { epoch, files });
  }

  /** Seconds the run took before this process (from the checkpoint it resumes), and when this one began. */
  #wallBefore = 0;
  #t0 = 0;

  /** Seconds the run has taken so far, over all its processes. */
  #wall(): number {
    return this.#wallBefore + (performance.now() - this.#t0) / 1000;
  }

  #save(
    path: string,
    model: DensityModel<B>,
    optimizer: tf.Optimizer,
    epoch: number,
    step: number,
    best: Best,
    rng: Rng,
  ): Promise<void> {
    return saveCheckpoint(
      path,
      {
        experiment: this.spec.name,
        config: this.cfg as Record<string, never>,
        epoch,
        step,
        best,
        rng: rng.state(),
        backend: this.opts.backend?.backend ?? null,
        wall_s: this.#wall(),
        early_stop: this.#monitor!.state(),
      },
      model as DensityModel,
      optimizer,
    );
  }
}
