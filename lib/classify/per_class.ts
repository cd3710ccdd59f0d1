/**
 * Training one model per class with the {@link Experiment} runner, into one run directory:
 *
 *   <run dir>/models/<variant>/<class>/{config.json, metrics.jsonl, summary.json, best.ckpt, last.ckpt}
 *
 * Each class is an ordinary run (warmup, evaluation, best checkpoint at the best validation likelihood,
 * resume, metrics), so shards on other processes or machines can write their classes side by side. A class
 * whose run finished (`summary.json` and `best.ckpt` present) is skipped; one that was interrupted
 * (`last.ckpt` only) resumes where it stopped; `retrain` deletes the class's directory and starts over.
 */
import { acquireRunLock, type RunLock, RunLockError } from "../runner/run_lock.ts";
import type { BackendInfo } from "../backend.ts";
import { type Config, configChanges, type ConfigSchema } from "../config.ts";
import { disposeModule } from "../nn/module.ts";
import { loadCheckpoint, restoreCheckpoint } from "../runner/checkpoint.ts";
import { Experiment } from "../runner/experiment.ts";
import { TrainingProgress } from "./train_progress.ts";
import type { Logger } from "../runner/logger.ts";
import { exists, join, writeJsonAtomic } from "../runner/run_dir.ts";
import type { Batch, DensityModel, ExperimentSpec } from "../runner/types.ts";

/** `<run dir>/models`. */
export const modelsDir = (runDir: string): string => join(runDir, "models");

/** Where the run of `cls` with model variant `variant` lives. */
export function classRunDir(runDir: string, variant: string, cls: string): string {
  if (!/^[\w.+-]+$/.test(variant) || !/^[\w.+-]+$/.test(cls)) {
    throw new Error(
      `Cannot make a run directory for variant "${variant}", class "${cls}": use [A-Za-z0-9_.+-]`,
    );
  }
  return join(modelsDir(runDir), variant, cls);
}

/** `done`: finished (summary.json and best.ckpt); `partial`: interrupted (last.ckpt); `none`: not started. */
export type ClassRunStatus = "done" | "partial" | "none";

export function classRunStatus(dir: string): ClassRunStatus {
  if (exists(join(dir, "summary.json")) && exists(join(dir, "best.ckpt"))) return "done";
  return exists(join(dir, "last.ckpt")) ? "partial" : "none";
}

/** What happened to one class. */
export interface ClassTrainResult {
  readonly cls: string;
  readonly action: "trained" | "resumed" | "skipped";
  readonly dir: string;
  readonly summary: Record<string, unknown>;
}

export interface PerClassOptions<S extends ConfigSchema, B extends Batch> {
  readonly runDir: string;
  readonly variant: string;
  readonly classes: readonly string[];
  /** The config of every class run. */
  readonly cfg: Config<S>;
  /** The experiment of one class (its `data` gives that class's examples). */
  readonly specFor: (cls: string) => ExperimentSpec<S, B>;
  readonly retrain: boolean;
  readonly log: Logger;
  readonly backend?: BackendInfo | null;
  /** Called after each class (trained or skipped), e.g. to free that class's cached states. */
  readonly afterClass?: (cls: string) => void;
  /** How to train a skipped class again, for the log (default: `--retrain trains it again`). */
  readonly retrainHint?: string;
  /** The experiment's schema: keys newer than a finished class's config are no change at their default. */
  readonly schema?: S;
  /** Training frames of a class: with it, a progress line across classes estimates the time to go. */
  readonly frames?: (cls: string) => number;
  /**
   * Claim classes instead of owning them: a class is trained only if this process takes its lock; one that
   * another process holds is left to it, and one found finished under the lock is skipped. Processes that
   * claim the same classes in the same order share them out as they go, so none idles while another still
   * has classes waiting (`--num_jobs` children). `onClaim` hears of each class taken. Not with `retrain`.
   * A class whose training fails is marked (`.claim_failed`, with `launch`): the other processes of the
   * same launch leave it alone rather than fail on it too; a later launch tries it again.
   */
  readonly claim?: {
    readonly onClaim?: (cls: string) => Promise<void>;
    /** The launch these processes belong to (the local launcher's `ECHOFLOW_LAUNCH_ID`); null: none. */
    readonly launch?: string | null;
  };
}

/** The marker of a class whose claimed training failed (see {@link PerClassOptions.claim}). */
export const CLAIM_FAILED = ".claim_failed";

interface ClaimFailure {
  readonly launch: string | null;
  readonly pid: number;
  readonly error: string;
}

function readFailure(dir: string): ClaimFailure | null {
  try {
    return JSON.parse(Deno.readTextFileSync(join(dir, CLAIM_FAILED))) as ClaimFailure;
  } catch {
    return null;
  }
}

/**
 * Keys that say how a run is organised, logged or reported, not what a class model is: a finished class
 * is not compared on them.
 */
export const RUN_CONTROL_KEYS: ReadonlySet<string> = new Set([
  "classes",
  "num_jobs",
  "shard",
  "claim",
  "stage",
  "retrain",
  "full_test",
  "use_prior",
  "sample_classes",
  "feature_cache_dir",
  "log_interval",
  "log_timing",
  "name",
  "notes",
  "sample_epochs",
  "n_samples",
  "sample_dir",
  "train_threads",
  "test_noise",
  "snr_db",
  "babble_talkers",
]);

/** How `cfg` differs from the config a finished class run in `dir` was trained with (its config.json). */
async function changesSinceTrained(
  dir: string,
  cfg: Readonly<Record<string, unknown>>,
  schema?: ConfigSchema,
): Promise<string[]> {
  const path = join(dir, "config.json");
  let saved: Record<string, unknown>;
  try {
    saved = JSON.parse(await Deno.readTextFile(path)).config ?? {};
  } catch (e) {
    return [`its config cannot be read (${e instanceof Error ? e.message : e})`];
  }
  const model = (c: Readonly<Record<string, unknown>>) =>
    Object.fromEntries(Object.entries(c).filter(([k]) => !RUN_CONTROL_KEYS.has(k)));
  return configChanges(model(saved), model(cfg), "the finished models' config", schema);
}

/**
 * Warns, once per change, when finished classes were trained with another config than this run's (they
 * keep their result), naming the classes: one line for all the classes a change concerns.
 */
async function warnChangedClasses<S extends ConfigSchema, B extends Batch>(o: PerClassOptions<S, B>) {
  const byChange = new Map<string, string[]>();
  for (const cls of o.classes) {
    const dir = classRunDir(o.runDir, o.variant, cls);
    if (o.retrain || classRunStatus(dir) !== "done") continue;
    for (const change of await changesSinceTrained(dir, o.cfg, o.schema)) {
      byChange.set(change, [...(byChange.get(change) ?? []), cls]);
    }
  }
  const hint = o.retrainHint ?? "--retrain trains it again";
  for (const [change, classes] of byChange) {
    o.log.warn(`${o.variant} classes ${classes.join(",")} (finished, skipped): ${change} (${hint})`);
  }
}

/** Trains (or skips, or resumes) every class in order; see the module doc. */
export async function trainPerClass<S extends ConfigSchema, B extends Batch>(
  o: PerClassOptions<S, B>,
): Promise<ClassTrainResult[]> {
  const out: ClassTrainResult[] = [];
  const epochs = (o.cfg as { epochs?: number }).epochs ?? 1;
  const progress = o.frames ? new TrainingProgress(o.log, o.classes, o.frames, epochs) : null;
  await warnChangedClasses(o);
  if (o.claim && o.retrain) throw new Error("trainPerClass: claimed classes cannot be retrained here");
  for (const [k, cls] of o.classes.entries()) {
    const dir = classRunDir(o.runDir, o.variant, cls);
    let status = classRunStatus(dir);
    const tag = `[${o.variant} ${k + 1}/${o.classes.length}: ${cls}]`;
    let lock: RunLock | undefined;
    const launch = o.claim?.launch ?? null;
    if (o.claim && status !== "done") {
      Deno.mkdirSync(dir, { recursive: true });
      try {
        lock = acquireRunLock(dir, (m) => o.log.warn(`${dir}: ${m}`));
      } catch (e) {
        if (!(e instanceof RunLockError)) throw e;
        o.log.info(`${tag} taken by another job; next class (${e.message})`);
        continue;
      }
      const failed = readFailure(dir);
      if (failed && launch !== null && failed.launch === launch) {
        lock.release();
        o.log.warn(`${tag} failed in process ${failed.pid} of this launch (${failed.error}); left alone`);
        continue;
      }
      if (failed) Deno.removeSync(join(dir, CLAIM_FAILED));
      // Another job may have finished it between the look and the lock.
      status = classRunStatus(dir);
      if (status === "done") lock.release();
      else await o.claim.onClaim?.(cls);
    }
    if (o.retrain && status !== "none") {
      await deleteClassRun(dir, o.log);
      status = "none";
    }
    if (status === "done") {
      const hint = o.retrainHint ?? "--retrain trains it again";
      o.log.info(`${tag} already trained in ${dir}; skipped (${hint})`);
      const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
      out.push({ cls, action: "skipped", dir, summary });
      progress?.finish(cls, true);
    } else {
      o.log.info(`${tag} ${status === "partial" ? "resuming from last.ckpt" : "training"} in ${dir}`);
      const log = o.log.withFields({ variant: o.variant, class: cls });
      const stop = log.onRecord((r) => {
        if (r.kind === "epoch" && typeof r.epoch === "number") progress?.epoch(cls, r.epoch);
      });
      try {
        const summary = await new Experiment(o.specFor(cls), o.cfg, {
          runDir: dir,
          resume: status === "partial" ? dir : null,
          log,
          backend: o.backend ?? null,
          ...(lock && { lock }),
        }).run();
        out.push({ cls, action: status === "partial" ? "resumed" : "trained", dir, summary });
      } catch (e) {
        if (lock) {
          const failure: ClaimFailure = {
            launch,
            pid: Deno.pid,
            error: e instanceof Error ? e.message : String(e),
          };
          await writeJsonAtomic(join(dir, CLAIM_FAILED), failure);
        }
        throw e;
      } finally {
        stop();
        lock?.release();
      }
      progress?.finish(cls);
    }
    o.afterClass?.(cls);
  }
  return out;
}

/**
 * Deletes a class's run directory for `--retrain` while holding its lock: a class that another live process
 * is training is refused (a {@link RunLockError} naming that process) rather than deleted under it.
 */
export async function deleteClassRun(dir: string, log: Logger): Promise<void> {
  const lock = acquireRunLock(dir, (m) => log.warn(`${dir}: ${m}`));
  try {
    await Deno.remove(dir, { recursive: true }); // the lock file goes with it
  } catch (e) {
    lock.release();
    throw e;
  }
}

/** A finished class model found in a run directory. */
export interface FoundClassModel {
  readonly variant: string;
  readonly cls: string;
  readonly dir: string;
  readonly checkpoint: string;
}

/** Every finished class run under `<run dir>/models`, by variant then class (sorted). */
export function findClassModels(runDir: string): Map<string, FoundClassModel[]> {
  const out = new Map<string, FoundClassModel[]>();
  const list = (dir: string) => {
    try {
      return [...Deno.readDirSync(dir)].filter((e) => e.isDirectory).map((e) => e.name).sort();
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return [];
      throw e;
    }
  };
  for (const variant of list(modelsDir(runDir))) {
    const found = list(join(modelsDir(runDir), variant))
      .map((cls) => ({ variant, cls, dir: join(modelsDir(runDir), variant, cls) }))
      .filter((m) => classRunStatus(m.dir) === "done")
      .map((m) => ({ ...m, checkpoint: join(m.dir, "best.ckpt") }));
    if (found.length) out.set(variant, found);
  }
  return out;
}

/**
 * Loads the best checkpoint of a class run into a model built from the checkpoint's own config (so the
 * sizes are those it was trained with). `optimizer` must build the experiment's optimizer class (the
 * checkpoint check requires it); its restored state is dropped.
 */
export async function loadClassModel<S extends ConfigSchema, B extends Batch>(
  path: string,
  spec: Pick<ExperimentSpec<S, B>, "name" | "optimizer">,
  build: (cfg: Config<S>) => DensityModel<B>,
): Promise<{ model: DensityModel<B>; cfg: Config<S>; best: Record<string, number | null> }> {
  const ckpt = await loadCheckpoint(path);
  const cfg = ckpt.header.config as unknown as Config<S>;
  const model = build(cfg);
  const optimizer = spec.optimizer(cfg);
  try {
    await restoreCheckpoint(ckpt, spec.name, model as DensityModel, optimizer);
  } catch (e) {
    disposeModule(model);
    throw e;
  } finally {
    optimizer.dispose();
  }
  return { model, cfg, best: ckpt.header.best };
}
