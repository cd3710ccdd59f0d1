/**
 * The stages of a per-class run, described once for every launcher (`local.ts` runs them on this machine,
 * `slurm.ts` submits them as Slurm jobs):
 *
 * 1. `prepare`: one task. Corpus check, features (into the feature cache), normalisation statistics
 *    (`models/norm_stats.json`) and the list of chosen classes with their sizes (`launch/classes_<variant>.json`).
 * 2. `train`: one task per shard (`--shard i/n`); each trains only its classes, each in its own folder.
 * 3. `eval`: one task. Every finished class model scores the test set; the report is written.
 *
 * A stage starts when every task of the one before it succeeded (Slurm: `--dependency=afterok`); a task
 * is the echoflow CLI with the run's config and the settings {@link taskSettings} gives (`--stage`, and
 * `--shard i/n` for a sharded stage), so a task is an ordinary one-stage run that either launcher can
 * start. Logs and task records are named by {@link taskName}, the same for both launchers.
 */
import type { ConfigValue } from "../config.ts";
import { join } from "../runner/run_dir.ts";

export type StageName = "prepare" | "train" | "eval";

/** The values of `--stage`: every stage, or one of them. */
export const STAGE_CHOICES = ["all", "prepare", "train", "eval"] as const;
export type StageChoice = (typeof STAGE_CHOICES)[number];

/** What each stage does, for messages and job descriptions. */
export const STAGE_DOES: Readonly<Record<StageName, string>> = Object.freeze({
  prepare: "corpus check, features, normalisation statistics",
  train: "class trainings",
  eval: "classification of the test set and the report",
});

export interface Stage {
  readonly name: StageName;
  /** How many tasks (1 for prepare and eval). */
  readonly tasks: number;
  /** Each task trains shard i of {@link tasks} (`--shard i/n`); false: one task, no shard. */
  readonly sharded: boolean;
  /**
   * The tasks claim classes (`--claim`): each takes the next class, largest first, that no other task
   * holds, until none is left; so no task idles while classes wait (the local launcher's `--num_jobs`).
   */
  readonly claim: boolean;
  /** At most this many tasks run at once (0: no limit). */
  readonly maxRunning: number;
}

export interface PlanOptions {
  /** Tasks of the train stage: its shards (n >= 1); with 1 and `shardTrain` false, one unsharded task. */
  readonly trainTasks: number;
  /** Shard the train stage even when it has one task (an array of one, on Slurm). */
  readonly shardTrain?: boolean;
  /** With more than one train task: the tasks claim classes instead of owning fixed shards. */
  readonly claimTrain?: boolean;
  /** At most this many train tasks at once (0: no limit). */
  readonly maxRunning?: number;
  /** Exactly the stage asked for, without the stages it needs (a task a launcher started). */
  readonly only?: boolean;
}

/**
 * The stages `--stage` asks for, in order: `all` is prepare, train, eval; `train` is prepare, train (the
 * training tasks read what the preparation wrote); `prepare` and `eval` are themselves alone.
 */
export function planStages(stage: StageChoice, o: PlanOptions): Stage[] {
  if (!(Number.isInteger(o.trainTasks) && o.trainTasks >= 1)) {
    throw new Error(`planStages: the train stage needs at least 1 task, got ${o.trainTasks}`);
  }
  const one = (name: StageName): Stage => ({ name, tasks: 1, sharded: false, claim: false, maxRunning: 0 });
  const claim = o.trainTasks > 1 && (o.claimTrain ?? false);
  const train: Stage = {
    name: "train",
    tasks: o.trainTasks,
    sharded: !claim && (o.trainTasks > 1 || (o.shardTrain ?? false)),
    claim,
    maxRunning: o.maxRunning ?? 0,
  };
  if (o.only && stage !== "all") return [stage === "train" ? train : one(stage)];
  switch (stage) {
    case "all":
      return [one("prepare"), train, one("eval")];
    case "train":
      return [one("prepare"), train];
    case "prepare":
      return [one("prepare")];
    case "eval":
      return [one("eval")];
  }
}

/**
 * The config settings of task `index` (1-based; for Slurm a placeholder the job script replaces with the
 * array index): `--stage` of the stage, `--shard index/n` when sharded (an unsharded task keeps the run's
 * `--shard`), and the local launcher with one job (a task never launches tasks of its own).
 */
export function taskSettings(stage: Stage, index: number | string): Record<string, ConfigValue> {
  return {
    stage: stage.name,
    ...(stage.sharded && { shard: `${index}/${stage.tasks}` }),
    // Claiming tasks never delete a class another task may be training: the launcher did the --retrain.
    ...(stage.claim && { claim: true, retrain: false }),
    num_jobs: 1,
    launcher: "local",
  };
}

/** `<variant>-<stage>` or, for a sharded stage, `<variant>-train-<i>of<n>`: names logs and task records. */
export function taskName(variant: string, stage: Stage, index: number | string): string {
  return `${variant}-${stage.name}${stage.sharded || stage.claim ? `-${index}of${stage.tasks}` : ""}`;
}

/** For messages: `prepare`, `eval`, or `shard i/n` for a task of a sharded stage. */
export function taskLabel(stage: Stage, index: number | string): string {
  return stage.sharded
    ? `shard ${index}/${stage.tasks}`
    : stage.claim
    ? `job ${index}/${stage.tasks}`
    : stage.name;
}

/** `<run dir>/logs`: one log per task of a launched run (the local launcher's children, Slurm jobs). */
export const logsDir = (runDir: string): string => join(runDir, "logs");

/** `<run dir>/launch`: what launchers and tasks record (submissions, class lists, task records). */
export const launchDir = (runDir: string): string => join(runDir, "launch");

/** The log file of a task. */
export const taskLog = (runDir: string, name: string): string => join(logsDir(runDir), `${name}.log`);
