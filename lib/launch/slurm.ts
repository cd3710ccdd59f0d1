/**
 * The Slurm launcher: submits the stages of a plan (`plan.ts`) as batch jobs and returns. Each stage is one
 * job (the train stage an array job, one task per shard, `%L` limiting how many run at once), depending on
 * the one before it with `--dependency=afterok` and `--kill-on-invalid-dep=yes`: the evaluation starts only
 * when every training task succeeded, and is cancelled when one failed.
 *
 * Before submitting: `sbatch` must be on PATH, no earlier submission of the run may still be queued or
 * running (`squeue`), and the paths the jobs use must be on storage the nodes share (`shared_storage.ts`).
 * The scripts (`slurm_script.ts`) and a record of the submission (job ids, logs, the command) go to
 * `<run dir>/launch/slurm-<id>/`; the tasks' logs to `<run dir>/logs/`.
 */
import { ConfigError } from "../config.ts";
import type { Logger } from "../runner/logger.ts";
import { exists, join, writeJsonAtomic } from "../runner/run_dir.ts";
import { hostName } from "../runner/run_lock.ts";
import { launchDir, logsDir, type Stage, STAGE_DOES, taskLog, taskName } from "./plan.ts";
import { readJson } from "./records.ts";
import { checkSharedStorage, type UsedPath } from "./shared_storage.ts";
import { renderScript, type ScriptOptions, TASK_INDEX } from "./slurm_script.ts";
import { findOnPath, runCommand } from "./shell.ts";

/** Options echoflow sets itself; `--slurm_args` may not give them. */
const OWN_OPTIONS = [
  "array",
  "dependency",
  "output",
  "error",
  "open-mode",
  "parsable",
  "wrap",
  "chdir",
  "job-name",
];
const OWN_SHORT: Readonly<Record<string, string>> = {
  a: "array",
  d: "dependency",
  o: "output",
  e: "error",
  D: "chdir",
  J: "job-name",
};

/**
 * Checks the words of `--slurm_args` (options for every job: partition, time, resources, account) and
 * returns the partition they name, if any. Options echoflow sets itself are {@link ConfigError}s.
 */
export function checkSlurmArgs(words: readonly string[]): { partition: string | null } {
  let partition: string | null = null;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const long = /^--([\w-]+)(=(.*))?$/.exec(w);
    const short = /^-(\w)(.*)$/.exec(w);
    const name = long
      ? long[1]
      : short
      ? OWN_SHORT[short[1]] ?? (short[1] === "p" ? "partition" : null)
      : null;
    if (name !== null && OWN_OPTIONS.includes(name)) {
      throw new ConfigError(
        `--slurm_args: ${w} is set by echoflow (${
          name === "array"
            ? "the train stage's array; its " +
              "concurrency is --slurm_array_limit, its size --slurm_array_tasks"
            : name === "dependency"
            ? "each stage waits for the one before it"
            : "each task's log goes to <run dir>/logs/"
        }); leave it out`,
      );
    }
    if (name === "partition") {
      partition = long ? (long[3] ?? words[++i] ?? null) : (short![2] || words[++i]) ?? null;
    }
  }
  return { partition };
}

/** Throws a {@link ConfigError} when `sbatch` is not on PATH (checked before anything is written). */
export function requireSbatch(): string {
  const sbatch = findOnPath("sbatch");
  if (sbatch === null) {
    throw new ConfigError(
      `--launcher slurm: no sbatch on PATH (${Deno.env.get("PATH") ?? "PATH unset"}). Run the command on a ` +
        `machine that can submit to your cluster (a login node; on Debian the slurm-client package, configured ` +
        `for the cluster), or use --launcher local`,
    );
  }
  return sbatch;
}

/** A job's state as `squeue` reports it (`COMPLETED`, `RUNNING`, `PENDING`, `FAILED`, ...). */
export interface JobState {
  /** `41`, or `42_3` for an array task. */
  readonly id: string;
  readonly state: string;
  readonly reason: string;
}

/**
 * The states of job `id` (of every task of an array job) while the controller still knows it (`squeue
 * --states=all`; finished jobs are forgotten after MinJobAge, 5 minutes by default); null when `squeue`
 * cannot tell (not on PATH, the job forgotten).
 */
export async function jobStates(id: string): Promise<JobState[] | null> {
  const r = await runCommand("squeue", ["-h", "--states=all", "-r", "-j", id, "-o", "%i|%T|%r"]);
  if (r.code !== 0) return null;
  const rows = r.stdout.split("\n").map((l) => l.trim()).filter((l) => l !== "").map((l) => {
    const [jid, state, reason] = l.split("|");
    return { id: jid, state, reason: reason ?? "" };
  });
  return rows.length ? rows : null;
}

/** States of jobs that have not ended. */
export const ACTIVE_STATES: ReadonlySet<string> = new Set([
  "PENDING",
  "RUNNING",
  "CONFIGURING",
  "COMPLETING",
  "REQUEUED",
  "REQUEUE_FED",
  "REQUEUE_HOLD",
  "RESIZING",
  "SUSPENDED",
  "STOPPED",
  "SIGNALING",
  "STAGE_OUT",
  "RESV_DEL_HOLD",
]);

/** One submitted stage. */
export interface SubmittedStage {
  readonly name: Stage["name"];
  readonly job: string;
  readonly tasks: number;
  readonly sharded: boolean;
  readonly max_running: number;
  readonly after: string | null;
  readonly script: string;
  /** Its log (`%a` stands for the array index). */
  readonly log: string;
}

/** `<run dir>/launch/slurm-<id>/submission.json`. */
export interface Submission {
  readonly id: string;
  readonly submitted: string;
  readonly host: string;
  readonly run_dir: string;
  readonly variant: string;
  readonly slurm_args: readonly string[];
  readonly stages: readonly SubmittedStage[];
}

/** The latest submission of a run (by id, which sorts by time), or null. */
export function latestSubmission(runDir: string): Submission | null {
  const dir = launchDir(runDir);
  if (!exists(dir)) return null;
  const ids = [...Deno.readDirSync(dir)].filter((e) => e.isDirectory && e.name.startsWith("slurm-"))
    .map((e) => e.name).sort();
  for (const id of ids.reverse()) {
    const s = readJson<Submission>(join(dir, id, "submission.json"));
    if (s?.stages?.every((st) => st.job)) return s;
  }
  return null;
}

/** Jobs of the run's latest submission that are still queued or running (`squeue`). */
export async function activeJobs(runDir: string): Promise<JobState[]> {
  const sub = latestSubmission(runDir);
  const out: JobState[] = [];
  for (const st of sub?.stages ?? []) {
    for (const j of (await jobStates(st.job)) ?? []) if (ACTIVE_STATES.has(j.state)) out.push(j);
  }
  return out;
}

export interface SlurmOptions {
  /** The run directory, absolute. */
  readonly runDir: string;
  readonly variant: string;
  readonly log: Logger;
  /** The words of `--slurm_args`, given to every sbatch. */
  readonly slurmArgs: readonly string[];
  /** Check the paths the jobs use for shared storage (`shared_storage.ts`). */
  readonly checkShared: boolean;
  /** Paths the jobs use (run directory, corpus, feature cache, checkout). */
  readonly paths: readonly UsedPath[];
  /** Deno and the checkout: what every node must see besides the run directory. */
  readonly program: readonly UsedPath[];
  /** Feature cache directory (train and eval tasks must see it). */
  readonly cacheDir: string;
  /** Corpus root (the preparation must see it). */
  readonly corpus: string;
  readonly commandOf: ScriptOptions["commandOf"];
  readonly env: Readonly<Record<string, string>>;
}

/** Submits `stages` (see the module doc); returns the submission, also written to the run directory. */
export async function submitStages(stages: readonly Stage[], o: SlurmOptions): Promise<Submission> {
  const sbatch = requireSbatch();
  const active = await activeJobs(o.runDir);
  if (active.length) {
    throw new ConfigError(
      `A Slurm submission of ${o.runDir} is still queued or running (${
        active.map((j) => `${j.id} ${j.state}`).join(", ")
      }): watch it with deno task status ${o.runDir}, or cancel it (scancel) before submitting again`,
    );
  }
  const { partition } = checkSlurmArgs(o.slurmArgs);
  if (o.checkShared) await checkSharedStorage(o.paths, partition);

  const id = `${new Date().toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15)}-${
    crypto.randomUUID().slice(0, 4)
  }`;
  const dir = join(launchDir(o.runDir), `slurm-${id}`);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.mkdir(join(launchDir(o.runDir), "tasks"), { recursive: true });
  await Deno.mkdir(logsDir(o.runDir), { recursive: true });
  const record = join(dir, "submission.json");
  const base = o.runDir.replace(/\/+$/, "").split("/").pop() || "run";
  const submitted: SubmittedStage[] = [];
  const write = () =>
    writeJsonAtomic(
      record,
      {
        id,
        submitted: new Date().toISOString(),
        host: hostName(),
        run_dir: o.runDir,
        variant: o.variant,
        slurm_args: o.slurmArgs,
        stages: submitted,
      } satisfies Submission,
    );
  // The jobs check that they see this file: a run directory on storage their node shares.
  await write();
  try {
    let after: string | null = null;
    for (const stage of stages) {
      const mustSee = [
        { what: "this submission's record in the run directory", path: record },
        ...o.program,
        ...(stage.name === "prepare"
          ? [{ what: "the corpus", path: o.corpus }]
          : [{ what: "the feature cache", path: o.cacheDir }]),
      ];
      const script = join(dir, `${stage.name}.sh`);
      await Deno.writeTextFile(
        script,
        renderScript({
          stage,
          runDir: o.runDir,
          variant: o.variant,
          submission: id,
          jobName: `echoflow-${stage.name}:${base}`,
          cwd: Deno.cwd(),
          commandOf: o.commandOf,
          mustSee,
          env: o.env,
        }),
        { mode: 0o755 },
      );
      const args = [
        "--parsable",
        ...(after ? [`--dependency=afterok:${after}`, "--kill-on-invalid-dep=yes"] : []),
        ...o.slurmArgs,
        script,
      ];
      const r = await runCommand(sbatch, args);
      const job = /^(\d+)/.exec(r.stdout.trim())?.[1];
      if (r.code !== 0 || !job) {
        throw new Error(
          `sbatch failed for the ${stage.name} stage (exit code ${r.code}): ${
            (r.stderr || r.stdout).trim()
          }` +
            ` (command: sbatch ${args.join(" ")})`,
        );
      }
      submitted.push({
        name: stage.name,
        job,
        tasks: stage.tasks,
        sharded: stage.sharded,
        max_running: stage.maxRunning,
        after,
        script,
        log: taskLog(o.runDir, taskName(o.variant, stage, TASK_INDEX)).replace(TASK_INDEX, "%a"),
      });
      await write();
      after = job;
    }
  } catch (e) {
    // Half a submission would wait forever (or run without its predecessors): cancel what went in.
    const ids = submitted.map((s) => s.job);
    if (ids.length) {
      const r = await runCommand("scancel", ids);
      if (r.code === 0) o.log.warn(`cancelled the jobs already submitted (${ids.join(", ")})`);
      else {
        o.log.warn(
          `could not cancel the jobs already submitted (${ids.join(", ")}): scancel exited ${r.code}: ` +
            `${r.stderr.trim() || r.stdout.trim()}; cancel them by hand`,
        );
      }
    }
    throw e;
  }
  const sub = readJson<Submission>(record)!;
  printSubmission(sub, o.log);
  return sub;
}

/** The human lines of a submission: job ids, what each stage does, where its logs go. */
export function printSubmission(sub: Submission, log: Logger): void {
  log.info(
    `submitted to Slurm (submission ${sub.id}; scripts in ${dirnameOf(sub.stages[0]?.script ?? "")}):`,
  );
  for (const s of sub.stages) {
    const job = s.sharded
      ? `array job ${s.job} (${s.tasks} task${s.tasks === 1 ? "" : "s"}${
        s.max_running > 0 ? `, at most ${s.max_running} at once` : ""
      })`
      : `job ${s.job}`;
    log.info(
      `  ${s.name.padEnd(8)}${job}: ${STAGE_DOES[s.name]}${
        s.after ? `, after job ${s.after} succeeded` : ""
      }`,
    );
    log.info(`  ${"".padEnd(8)}log: ${s.log}${s.sharded ? ` (%a: the task, 1..${s.tasks})` : ""}`);
  }
  log.info(
    `watch: deno task status ${sub.run_dir}   (or squeue -j ${sub.stages.map((s) => s.job).join(",")})`,
  );
}

const dirnameOf = (p: string) => p.slice(0, Math.max(0, p.lastIndexOf("/"))) || ".";
