/**
 * `--launcher slurm` for a per-class experiment on TIMIT: submits the stages `--stage` asks for
 * (`lib/launch/plan.ts`) with the Slurm launcher (`lib/launch/slurm.ts`): the train stage an array of one
 * task per class (counted from the transcriptions, `launch_classes.ts`) or `slurm_array_tasks` shards; the
 * paths the jobs use are checked for shared storage. Nothing is computed here; returns the job ids.
 */
import type { ConfigValue } from "../config.ts";
import { DEFAULT_CACHE_DIR } from "../data/timit/dataset.ts";
import { planStages, type StageChoice } from "../launch/plan.ts";
import { absolutePath, shellSplit } from "../launch/shell.ts";
import { submitStages } from "../launch/slurm.ts";
import type { Logger } from "../runner/logger.ts";
import { dirname } from "../runner/run_dir.ts";
import { cliCommand, MAIN_TS, taskEnv } from "./jobs.ts";
import { trainTaskCount } from "./launch_classes.ts";

/** The config keys a submission reads. */
export interface PerClassSlurmConfig {
  readonly stage: StageChoice;
  readonly model: string;
  readonly timit_dir: string | null;
  readonly classes: string;
  readonly feature_cache_dir: string | null;
  readonly skip_bad: boolean;
  readonly slurm_args: string;
  readonly slurm_array_tasks: number;
  readonly slurm_array_limit: number;
  readonly slurm_check_shared: boolean;
}

export interface PerClassSlurmOptions {
  /** The run directory as given (made absolute for the jobs). */
  readonly runDir: string;
  readonly log: Logger;
  /** Whether the protocol keeps the SA sentences (for counting the classes). */
  readonly includeSA: boolean;
  /** The CLI arguments of a task of the run in `runDir` with these settings. */
  readonly argsOf: (runDir: string) => (settings: Readonly<Record<string, ConfigValue>>) => string[];
}

/** Submits the run (see the module doc); returns what goes into its summary. */
export async function submitPerClassRun(
  cfg: PerClassSlurmConfig,
  o: PerClassSlurmOptions,
): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const runDir = absolutePath(o.runDir);
  const count = await trainTaskCount({
    timitDir: cfg.timit_dir,
    classes: cfg.classes,
    arrayTasks: cfg.slurm_array_tasks,
    includeSA: o.includeSA,
    skipBad: cfg.skip_bad,
  });
  const stages = planStages(cfg.stage, {
    trainTasks: count.tasks,
    shardTrain: true,
    maxRunning: cfg.slurm_array_limit,
  });
  const training = stages.some((s) => s.name === "train");
  if (training) o.log.info(`training: an array of ${count.tasks} tasks (${count.why})`);
  const corpus = absolutePath(count.corpus);
  const cacheDir = absolutePath(cfg.feature_cache_dir ?? DEFAULT_CACHE_DIR);
  // Jobs start in this working directory (--chdir), where relative paths resolve.
  const relative = [o.runDir, cfg.timit_dir ?? "/", cfg.feature_cache_dir ?? "/"].some((p) =>
    !p.startsWith("/")
  );
  const argsOf = o.argsOf(runDir);
  const denoDir = Deno.env.get("DENO_DIR");
  const sub = await submitStages(stages, {
    runDir,
    variant: cfg.model,
    log: o.log,
    slurmArgs: shellSplit(cfg.slurm_args, "--slurm_args"),
    checkShared: cfg.slurm_check_shared,
    paths: [
      { what: "run directory", path: runDir },
      { what: "corpus", path: corpus },
      { what: "feature cache", path: cacheDir },
      { what: "echoflow checkout", path: dirname(MAIN_TS) },
      ...(relative ? [{ what: "working directory (relative paths)", path: Deno.cwd() }] : []),
    ],
    program: [
      { what: "the Deno executable", path: Deno.execPath() },
      { what: "the echoflow checkout", path: MAIN_TS },
    ],
    cacheDir,
    corpus,
    commandOf: (settings) => cliCommand(argsOf(settings)),
    env: { ...taskEnv(), ...(denoDir ? { DENO_DIR: denoDir } : {}) },
  });
  return {
    stage: cfg.stage,
    launcher: "slurm",
    submission: sub.id,
    jobs: Object.fromEntries(sub.stages.map((s) => [s.name, s.job])),
    logs: Object.fromEntries(sub.stages.map((s) => [s.name, s.log])),
    train_tasks: training ? count.tasks : 0,
    wall_s: (performance.now() - t0) / 1000,
  };
}
